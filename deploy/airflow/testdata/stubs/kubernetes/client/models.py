"""Stub of kubernetes.client.models: the classes athlake_dag.py and the
test use, with their real attribute names. A model takes its attributes
as keyword arguments (an unknown one is a TypeError, as with the real
client) and to_api() gives the API's JSON (camelCase), which the Go test
decodes strictly into the Kubernetes API types."""


def _camel(name):
    first, *rest = name.split("_")
    return first + "".join(p[:1].upper() + p[1:] for p in rest)


def to_api(v):
    """v in the Kubernetes API's JSON form."""
    if isinstance(v, _Model):
        return {_camel(k): to_api(x) for k, x in vars(v).items() if x is not None}
    if isinstance(v, (list, tuple)):
        return [to_api(x) for x in v]
    if isinstance(v, dict):
        return {k: to_api(x) for k, x in v.items()}
    return v


class _Model:
    FIELDS = ()

    def __init__(self, **kwargs):
        unknown = sorted(set(kwargs) - set(self.FIELDS))
        if unknown:
            raise TypeError(f"{type(self).__name__}.__init__() got unexpected keyword arguments {unknown}")
        for f in self.FIELDS:
            setattr(self, f, kwargs.get(f))

    def to_api(self):
        return to_api(self)


def _model(name, *fields):
    return type(name, (_Model,), {"FIELDS": fields})


V1Volume = _model("V1Volume", "name", "config_map", "empty_dir", "secret", "persistent_volume_claim", "projected")
V1ConfigMapVolumeSource = _model("V1ConfigMapVolumeSource", "name", "items", "default_mode", "optional")
V1EmptyDirVolumeSource = _model("V1EmptyDirVolumeSource", "medium", "size_limit")
V1VolumeMount = _model("V1VolumeMount", "name", "mount_path", "read_only", "sub_path")
V1EnvVar = _model("V1EnvVar", "name", "value", "value_from")
V1EnvVarSource = _model("V1EnvVarSource", "config_map_key_ref", "field_ref", "resource_field_ref", "secret_key_ref")
V1ResourceFieldSelector = _model("V1ResourceFieldSelector", "container_name", "divisor", "resource")
V1SecretKeySelector = _model("V1SecretKeySelector", "key", "name", "optional")
V1EnvFromSource = _model("V1EnvFromSource", "config_map_ref", "prefix", "secret_ref")
V1SecretEnvSource = _model("V1SecretEnvSource", "name", "optional")
V1ResourceRequirements = _model("V1ResourceRequirements", "claims", "limits", "requests")
V1PodSecurityContext = _model(
    "V1PodSecurityContext", "fs_group", "run_as_group", "run_as_non_root", "run_as_user", "seccomp_profile",
    "supplemental_groups",
)
V1SeccompProfile = _model("V1SeccompProfile", "localhost_profile", "type")
V1SecurityContext = _model(
    "V1SecurityContext", "allow_privilege_escalation", "capabilities", "privileged", "read_only_root_filesystem",
    "run_as_group", "run_as_non_root", "run_as_user", "seccomp_profile",
)
V1Capabilities = _model("V1Capabilities", "add", "drop")
V1Pod = _model("V1Pod", "api_version", "kind", "metadata", "spec", "status")
V1ObjectMeta = _model("V1ObjectMeta", "annotations", "labels", "name", "namespace")
V1PodStatus = _model("V1PodStatus", "container_statuses", "phase")
V1ContainerStatus = _model("V1ContainerStatus", "image", "last_state", "name", "ready", "restart_count", "state")
V1ContainerState = _model("V1ContainerState", "running", "terminated", "waiting")
V1ContainerStateTerminated = _model("V1ContainerStateTerminated", "exit_code", "message", "reason")
