"""Stub of the Airflow names athlake_dag.py imports, for deploy/airflow's
test: not Airflow. A DAG records its arguments and the operators created
inside its `with` block."""

DAGS = []
_open = []

# The DAG parameters athlake_dag.py may use (Airflow 2.x's DAG.__init__);
# any other is a TypeError, as it is for Airflow's DAG.
_DAG_PARAMS = {
    "description", "schedule", "start_date", "end_date", "catchup", "max_active_runs",
    "max_active_tasks", "dagrun_timeout", "tags", "default_args", "doc_md", "params",
}


class DAG:
    def __init__(self, dag_id, **kwargs):
        unknown = sorted(set(kwargs) - _DAG_PARAMS)
        if unknown:
            raise TypeError(f"DAG.__init__() got unexpected keyword arguments {unknown}")
        self.dag_id = dag_id
        self.kwargs = kwargs
        self.tasks = []
        DAGS.append(self)

    def __enter__(self):
        _open.append(self)
        return self

    def __exit__(self, *exc):
        _open.pop()
        return False


def _current_dag():
    """The DAG whose `with` block is open, or None."""
    return _open[-1] if _open else None
