"""Loads a DAG file against the stubs beside this file (not Airflow) and
prints, as JSON, each DAG and its tasks: their arguments, their pods'
specs in the API's JSON (one per map index of a mapped task), and what
the operator's cleanup() does with a pod whose athlake container exited
0, 1, 2 or 75.

    python3 harness.py DAG_FILE
"""

import datetime
import importlib.util
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "stubs"))

import airflow  # noqa: E402  (the stub)
from airflow.providers.cncf.kubernetes.operators.pod import MappedOperator  # noqa: E402
from kubernetes.client import models as k8s  # noqa: E402

EXIT_CODES = (0, 1, 2, 75)


def jsonable(v):
    if isinstance(v, datetime.timedelta):
        return v.total_seconds()
    if isinstance(v, datetime.datetime):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return k8s.to_api(v) if isinstance(v, k8s._Model) else repr(v)


def finished_pod(code):
    """A pod whose base container exited code, beside the provider's XCom
    sidecar, which exited 0."""
    def status(name, exit_code):
        terminated = k8s.V1ContainerStateTerminated(exit_code=exit_code)
        return k8s.V1ContainerStatus(name=name, state=k8s.V1ContainerState(terminated=terminated))

    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name=f"athlake-exit-{code}", namespace="athlake"),
        status=k8s.V1PodStatus(
            phase="Succeeded" if code == 0 else "Failed",
            container_statuses=[status("airflow-xcom-sidecar", 0), status("base", code)],
        ),
    )


def outcome(op, code):
    pod = finished_pod(code)
    try:
        op.cleanup(pod, pod)
    except Exception as e:  # the outcome is the exception's class
        return type(e).__name__
    return "ok"


def main(path):
    spec = importlib.util.spec_from_file_location("dag_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dags = []
    for dag in airflow.DAGS:
        tasks = []
        for task in dag.tasks:
            if isinstance(task, MappedOperator):
                ops = task.unmap()
                t = {"class": task.operator_class.__name__, "kwargs": jsonable(task.partial_kwargs),
                     "expand": jsonable(task.expand_kwargs)}
            else:
                ops = [task]
                t = {"class": type(task).__name__, "kwargs": jsonable(task.kwargs), "expand": None}
            t["task_id"] = task.task_id
            t["instances"] = [
                {
                    "retries": op.retries,
                    "do_xcom_push": op.do_xcom_push,
                    "skip_on_exit_code": sorted(op.skip_on_exit_code),
                    "pod": op.pod_spec(),
                    "cleanup": {str(c): outcome(op, c) for c in EXIT_CODES},
                }
                for op in ops
            ]
            tasks.append(t)
        dags.append({"dag_id": dag.dag_id, "kwargs": jsonable(dag.kwargs), "tasks": tasks})
    json.dump({"dags": dags}, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1])
