"""Stub of the provider's KubernetesPodOperator: it checks and records its
arguments, builds the pod's spec the way the provider does (in the API's
JSON), has partial()/expand(), and a cleanup() that decides a finished
pod's outcome as the provider does: success, AirflowSkipException for an
exit code in skip_on_exit_code, else AirflowException."""

from collections.abc import Container

from airflow import _current_dag
from airflow.exceptions import AirflowException, AirflowSkipException
from kubernetes.client.models import to_api

# KubernetesPodOperator.__init__'s parameters (provider 7.x).
_POD_PARAMS = {
    "kubernetes_conn_id", "namespace", "image", "name", "random_name_suffix", "cmds", "arguments", "ports",
    "volume_mounts", "volumes", "env_vars", "env_from", "secrets", "in_cluster", "cluster_context", "labels",
    "reattach_on_restart", "startup_timeout_seconds", "get_logs", "container_logs", "image_pull_policy",
    "annotations", "container_resources", "affinity", "config_file", "node_selector", "image_pull_secrets",
    "service_account_name", "hostnetwork", "tolerations", "security_context", "container_security_context",
    "dnspolicy", "dns_config", "hostname", "subdomain", "schedulername", "full_pod_spec", "init_containers",
    "log_events_on_failure", "do_xcom_push", "pod_template_file", "priority_class_name",
    "pod_runtime_info_envs", "termination_grace_period", "configmaps", "skip_on_exit_code",
    "base_container_name", "deferrable", "poll_interval", "log_pod_spec_on_failure", "on_finish_action",
    "termination_message_policy", "active_deadline_seconds",
}
# BaseOperator's parameters athlake_dag.py may use.
_BASE_PARAMS = {
    "task_id", "owner", "retries", "retry_delay", "retry_exponential_backoff", "max_retry_delay",
    "execution_timeout", "max_active_tis_per_dag", "pool", "pool_slots", "priority_weight", "queue",
    "trigger_rule", "doc_md",
}
_ON_FINISH = {"delete_pod", "delete_succeeded_pod", "keep_pod"}


def _check(kwargs):
    unknown = sorted(set(kwargs) - _POD_PARAMS - _BASE_PARAMS)
    if unknown:
        raise TypeError(f"KubernetesPodOperator.__init__() got unexpected keyword arguments {unknown}")
    if kwargs.get("on_finish_action", "delete_pod") not in _ON_FINISH:
        raise ValueError(f"on_finish_action {kwargs['on_finish_action']!r}")


class KubernetesPodOperator:
    BASE_CONTAINER_NAME = "base"

    def __init__(self, *, task_id, **kwargs):
        _check(kwargs)
        self.task_id = task_id
        self.kwargs = kwargs
        self.retries = kwargs.get("retries", 0)
        self.do_xcom_push = kwargs.get("do_xcom_push", False)
        skip = kwargs.get("skip_on_exit_code")
        # As the provider normalises it.
        self.skip_on_exit_code = skip if isinstance(skip, Container) else [skip] if skip else []
        self.base_container_name = kwargs.get("base_container_name") or self.BASE_CONTAINER_NAME
        dag = _current_dag()
        if dag is not None:
            dag.tasks.append(self)

    @classmethod
    def partial(cls, **kwargs):
        _check(kwargs)
        return _Partial(cls, kwargs)

    def pod_spec(self):
        """The pod's spec in the API's JSON, as build_pod_request_obj
        builds it (without the XCom sidecar the provider adds)."""
        k = self.kwargs
        container = {
            "name": self.base_container_name,
            "image": k.get("image"),
            "command": k.get("cmds") or None,
            "args": k.get("arguments") or None,
            "env": to_api(k.get("env_vars")) or None,
            "envFrom": to_api(k.get("env_from")) or None,
            "resources": to_api(k.get("container_resources")),
            "volumeMounts": to_api(k.get("volume_mounts")) or None,
            "securityContext": to_api(k.get("container_security_context")),
            "terminationMessagePolicy": k.get("termination_message_policy", "File"),
        }
        for s in k.get("secrets") or []:
            s.attach(container)
        spec = {
            "containers": [{n: v for n, v in container.items() if v is not None}],
            "serviceAccountName": k.get("service_account_name"),
            "securityContext": to_api(k.get("security_context")),
            "volumes": to_api(k.get("volumes")) or None,
            "restartPolicy": "Never",
            "activeDeadlineSeconds": k.get("active_deadline_seconds"),
        }
        return {n: v for n, v in spec.items() if v is not None}

    def cleanup(self, pod, remote_pod):
        phase = remote_pod.status.phase if hasattr(remote_pod, "status") else None
        if phase == "Succeeded":
            return
        statuses = (remote_pod.status.container_statuses if remote_pod and remote_pod.status else None) or []
        base = next((s for s in statuses if s.name == self.base_container_name), None)
        exit_code = (
            base.state.terminated.exit_code if base and base.state and base.state.terminated else None
        )
        if exit_code in self.skip_on_exit_code:
            raise AirflowSkipException(f"Pod {pod.metadata.name} returned exit code {exit_code}. Skipping.")
        raise AirflowException(f"Pod {pod.metadata.name} returned a failure.")


class _Partial:
    def __init__(self, cls, kwargs):
        self.cls = cls
        self.kwargs = kwargs

    def expand(self, **mapped):
        _check(mapped)
        if len(mapped) != 1:
            raise NotImplementedError("the stub expands over one argument")
        for k, v in mapped.items():
            if k in self.kwargs:
                raise TypeError(f"{k} is both partial and expanded")
            if not isinstance(v, list) or not v:
                raise TypeError(f"expand {k}: want a non-empty list")
        m = MappedOperator(self.cls, self.kwargs, mapped)
        dag = _current_dag()
        if dag is not None:
            dag.tasks.append(m)
        return m


class MappedOperator:
    def __init__(self, cls, partial_kwargs, expand_kwargs):
        self.operator_class = cls
        self.task_id = partial_kwargs["task_id"]
        self.partial_kwargs = partial_kwargs
        self.expand_kwargs = expand_kwargs

    def unmap(self):
        """One operator per map index, as Airflow creates them at run time
        (call it outside a DAG's `with` block)."""
        n = len(next(iter(self.expand_kwargs.values())))
        return [
            self.operator_class(**self.partial_kwargs, **{k: v[i] for k, v in self.expand_kwargs.items()})
            for i in range(n)
        ]
