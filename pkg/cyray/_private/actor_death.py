"""An actor's death cause as text: how the GCS writes ActorTableData.death_cause, and how
callers and the state API read it back.

The C++ actor submitter copies death_cause verbatim into the error object (ACTOR_DIED) of
every call the death fails, so this text is all a caller learns. It is what Ray's
ActorDiedError prints after its first line: header lines "\\tkey: value" (class_name,
actor_id, pid, name, namespace, ip, as Ray prints them), then the message. The GCS writes a
header where the message alone says too little (a node's death, for now); a text without
one is all message.
"""

import re
from typing import Dict, Tuple

from cyray import exceptions

# Ray's message for an actor whose node died (GcsActorManager::GenNodeDiedCause).
_NODE_DIED = re.compile(
    r"The actor died because its node has died\. Node Id: (?P<node_id>[0-9a-f]+)\n"
    r"\tthe actor's node was terminated (?P<how>expectedly|unexpectedly): (?P<reason>.*)",
    re.DOTALL)


def node_died(table, node, expected: bool) -> str:
    """The death cause of the actor (its ActorTableData) whose node (its GcsNodeInfo, already
    DEAD with its death_reason) died; `expected` when the node shut down by itself."""
    fields = [("class_name", table.class_name.rsplit(".", 1)[-1]),
              ("actor_id", table.actor_id.hex())]
    if table.pid:
        fields.append(("pid", table.pid))
    if table.name:
        fields.append(("name", table.name))
    if table.ray_namespace:
        fields.append(("namespace", table.ray_namespace))
    if node.node_manager_address:
        fields.append(("ip", node.node_manager_address))
    how = "expectedly" if expected else "unexpectedly"
    return ("".join(f"\t{key}: {value}\n" for key, value in fields)
            + f"The actor died because its node has died. Node Id: {node.node_id.hex()}\n"
            + f"\tthe actor's node was terminated {how}: {node.death_reason}")


def split(death_cause: str) -> Tuple[Dict[str, str], str]:
    """(header fields, message) of a death cause."""
    fields = {}
    rest = death_cause
    while rest.startswith("\t"):
        line, newline, after = rest.partition("\n")
        key, colon, value = line[1:].partition(": ")
        if not newline or not colon:
            break
        fields[key] = value
        rest = after
    return fields, rest


def message(death_cause: str) -> str:
    """The death cause without its header: Ray's error_message of the death."""
    return split(death_cause)[1]


def actor_died_error(death_cause: str) -> exceptions.ActorDiedError:
    """The ActorDiedError of a call this death failed, its message Ray's. When the actor's
    node died, its __cause__ is a NodeDiedError naming the node."""
    error = exceptions.ActorDiedError()
    if death_cause:
        error.error_msg = f"{error.BASE_ERROR_MSG}\n{death_cause}"
    fields, text = split(death_cause)
    error.actor_id = fields.get("actor_id")
    node = _NODE_DIED.match(text)
    if node is not None:
        ip = fields.get("ip", "")
        error.__cause__ = exceptions.NodeDiedError(
            f"The node (IP: {ip}, node ID: {node['node_id']}) where the actor was running was "
            f"terminated {node['how']}: {node['reason']}",
            node_id=node["node_id"], node_ip_address=ip or None)
    return error
