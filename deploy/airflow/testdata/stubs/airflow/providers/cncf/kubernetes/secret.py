"""Stub of the provider's Secret: the same arguments and checks, and how it
attaches to the pod's container."""

from airflow.exceptions import AirflowConfigException


class Secret:
    def __init__(self, deploy_type, deploy_target, secret, key=None, items=None):
        if deploy_type not in ("env", "volume"):
            raise AirflowConfigException("deploy_type must be env or volume")
        self.deploy_type = deploy_type
        self.deploy_target = deploy_target
        if deploy_target is not None and deploy_type == "env":
            self.deploy_target = deploy_target.upper()
        if key is not None and deploy_target is None:
            raise AirflowConfigException("If `key` is set, `deploy_target` should not be None")
        self.secret = secret
        self.key = key
        self.items = items or []

    def attach(self, container):
        """Adds the secret to a container (a dict in the API's JSON), as
        the provider's attach_to_pod does for env secrets."""
        if self.deploy_type != "env":
            raise NotImplementedError("volume secrets are not stubbed")
        if self.key is not None:
            _list(container, "env").append(
                {"name": self.deploy_target, "valueFrom": {"secretKeyRef": {"name": self.secret, "key": self.key}}}
            )
        else:
            _list(container, "envFrom").append({"secretRef": {"name": self.secret}})


def _list(container, field):
    if container.get(field) is None:
        container[field] = []
    return container[field]
