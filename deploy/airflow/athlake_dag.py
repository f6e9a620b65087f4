"""athlake on Airflow 2.x: syncs run as Kubernetes pods.

Two DAGs, for the apache-airflow-providers-cncf-kubernetes provider, using
the ConfigMaps and Secrets of deploy/kubernetes/ (apply those first):

- athlake_acme: an hourly `athlake sync` of one organisation, the config
  from the ConfigMap athlake-acme (cronjob.yaml), the vendors' credentials
  from the Secret athlake-acme as environment variables.
- athlake_organisations: a nightly sync of many organisations, one mapped
  task per organisation (.partial().expand()), each with its own config
  org-<n>.yaml from the ConfigMap athlake-orgs (organisations.yaml), and so
  its own output prefix, lock and state.

Each task's run summary (the JSON of _runs/<run id>.json, from
--summary-file) is its XCom return value. What each exit code does:

  0   done                                  the task succeeds
  1   failed, retrying may help             the task fails and is retried (retries)
  2   bad usage, config or credentials      the task fails at once: AirflowFailException,
                                            no retry (the log names the key)
  75  stopped early, state saved (lake      the task is skipped (skip_on_exit_code); the
      locked by another run, quota spent,   next scheduled run continues from the state
      SIGTERM)

A pod that cannot start, or is killed (OOMKilled, evicted), fails its
task as exit 1 does: it is retried.

Put this file in the DAGs folder; edit IMAGE, NAMESPACE and the
organisations first. deploy/airflow's Go test checks this file against
stubs of the Airflow and Kubernetes names it imports, not a real Airflow.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow import DAG
from airflow.exceptions import AirflowException, AirflowFailException, AirflowSkipException
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.secret import Secret
from kubernetes.client import models as k8s

IMAGE = "registry.example.com/athlake:0.1.0"
NAMESPACE = "athlake"  # where deploy/kubernetes/'s ServiceAccount, ConfigMaps and Secrets are
KUBERNETES_CONN_ID = "kubernetes_default"  # or in_cluster=True when Airflow runs in that cluster

# athlake's exit codes.
EXIT_FAILED = 1  # retrying may help
EXIT_USAGE = 2  # bad usage, config or credentials: retrying will not help
EXIT_STOPPED = 75  # stopped early with the state saved: run again later

# The provider's sidecar reads this file into the task's XCom.
SUMMARY_FILE = "/airflow/xcom/return.json"

# The organisations of the nightly DAG: org-<n>.yaml each, in the
# ConfigMap athlake-orgs (deploy/kubernetes/organisations.yaml), their
# variables in the Secret athlake-orgs.
ORGANISATIONS = ["org-0", "org-1", "org-2"]


def athlake_exit_code(remote_pod, container):
    """The exit code of the container named container, or None."""
    status = getattr(remote_pod, "status", None)
    for cs in (status.container_statuses if status else None) or []:
        if cs.name != container:
            continue
        for state in (cs.state, cs.last_state):
            if state is not None and state.terminated is not None:
                return state.terminated.exit_code
    return None


class AthlakePodOperator(KubernetesPodOperator):
    """A KubernetesPodOperator that knows athlake's exit codes.

    Exit 75 is skipped by the base operator (skip_on_exit_code); exit 2 is
    turned into AirflowFailException, which fails the task without its
    retries; any other failure stays an AirflowException, retried.
    """

    def cleanup(self, pod, remote_pod):
        try:
            return super().cleanup(pod, remote_pod)
        except AirflowSkipException:
            raise
        except AirflowException as e:
            if athlake_exit_code(remote_pod, self.base_container_name) == EXIT_USAGE:
                raise AirflowFailException(
                    f"athlake exited {EXIT_USAGE}: bad usage, configuration or credentials "
                    "(the log names the key); a retry cannot help"
                ) from e
            raise


def sync_arguments(config):
    """The container's arguments: a sync of the config at that path."""
    return ["sync", "--config", config, "--log-format", "json", "--summary-file", SUMMARY_FILE]


def pod_settings(config_map):
    """What every athlake pod has, as deploy/kubernetes/'s CronJobs do:
    the config volume (the ConfigMap config_map at /etc/athlake), scratch
    space, 512Mi of memory, non-root with a read-only root filesystem."""
    return dict(
        kubernetes_conn_id=KUBERNETES_CONN_ID,
        namespace=NAMESPACE,
        image=IMAGE,
        service_account_name="athlake",  # IRSA: writes the bucket without keys
        volumes=[
            k8s.V1Volume(name="config", config_map=k8s.V1ConfigMapVolumeSource(name=config_map)),
            # The views database and DuckDB's spill files.
            k8s.V1Volume(name="work", empty_dir=k8s.V1EmptyDirVolumeSource(size_limit="4Gi")),
            k8s.V1Volume(name="tmp", empty_dir=k8s.V1EmptyDirVolumeSource(size_limit="1Gi")),
        ],
        volume_mounts=[
            k8s.V1VolumeMount(name="config", mount_path="/etc/athlake", read_only=True),
            k8s.V1VolumeMount(name="work", mount_path="/var/lib/athlake"),
            k8s.V1VolumeMount(name="tmp", mount_path="/tmp"),
        ],
        env_vars=[
            # Go's soft limit from the container's limit (the container is
            # named "base" by the operator).
            k8s.V1EnvVar(
                name="GOMEMLIMIT",
                value_from=k8s.V1EnvVarSource(
                    resource_field_ref=k8s.V1ResourceFieldSelector(container_name="base", resource="limits.memory")
                ),
            ),
        ],
        # As the CronJobs': the runs' measured peak at the configs' 256MiB
        # budget (README, "Benchmarks"), requested in full.
        container_resources=k8s.V1ResourceRequirements(
            requests={"cpu": "500m", "memory": "512Mi"},
            limits={"cpu": "2", "memory": "512Mi"},
        ),
        security_context=k8s.V1PodSecurityContext(
            run_as_non_root=True,
            run_as_user=65532,
            run_as_group=65532,
            fs_group=65532,
            seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
        ),
        container_security_context=k8s.V1SecurityContext(
            allow_privilege_escalation=False,
            read_only_root_filesystem=True,
            capabilities=k8s.V1Capabilities(drop=["ALL"]),
        ),
        # SIGTERM (the task killed): athlake commits what is complete,
        # saves its state and exits 75.
        termination_grace_period=60,
        do_xcom_push=True,  # the run summary, from --summary-file
        skip_on_exit_code=EXIT_STOPPED,
        get_logs=True,
        on_finish_action="delete_pod",
        retries=3,  # exit 1 (exit 2 fails at once: AthlakePodOperator.cleanup)
        retry_delay=timedelta(minutes=5),
    )


with DAG(
    dag_id="athlake_acme",
    description="hourly athlake sync of acme into s3://my-athlake-bucket/acme",
    schedule="17 * * * *",
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,  # a sync catches up by itself
    max_active_runs=1,  # never two syncs of one lake from here (the lake's lock guards the rest)
    dagrun_timeout=timedelta(minutes=50),  # retries included, before the next hour's
    tags=["athlake"],
) as hourly:
    AthlakePodOperator(
        task_id="sync",
        name="athlake-acme",
        arguments=sync_arguments("/etc/athlake/athlake.yaml"),
        # The variables athlake-acme's config names, from the Secret
        # athlake-acme (kubectl create secret ..., deploy/kubernetes/cronjob.yaml).
        secrets=[
            Secret("env", "PLYOMAT_API_KEY", "athlake-acme", "plyomat-api-key"),
            Secret("env", "OPTIMO_TOKEN", "athlake-acme", "optimo-token"),
            Secret("env", "TEAMPRO_CLIENT_ID", "athlake-acme", "teampro-client-id"),
            Secret("env", "TEAMPRO_CLIENT_SECRET", "athlake-acme", "teampro-client-secret"),
        ],
        execution_timeout=timedelta(minutes=45),
        **pod_settings("athlake-acme"),
    )

with DAG(
    dag_id="athlake_organisations",
    description="nightly athlake sync of every organisation, one mapped task each",
    schedule="30 2 * * *",
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=22),  # before the next night's
    tags=["athlake"],
) as nightly:
    # One task instance per organisation: exit 2 fails that organisation
    # alone, the others go on; exit 1 retries it; exit 75 skips it.
    AthlakePodOperator.partial(
        task_id="sync",
        name="athlake-org",
        # Every organisation's variables (PLYOMAT_API_KEY_0, ...), from one
        # Secret; for separate credentials, one DAG like athlake_acme each.
        secrets=[Secret("env", None, "athlake-orgs")],
        max_active_tis_per_dag=2,  # organisations synced at once
        execution_timeout=timedelta(hours=6),
        **pod_settings("athlake-orgs"),
    ).expand(arguments=[sync_arguments(f"/etc/athlake/{org}.yaml") for org in ORGANISATIONS])
