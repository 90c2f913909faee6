"""Turns the `scheduling_strategy` and `label_selector` options into the
rpc.SchedulingStrategy message the raylets' scheduling policy reads."""

from cyray.util import scheduling_strategies as strategies

_NO_STRATEGY = b""
NODE_ID_SIZE = 28


def encode_scheduling_strategy(strategy, label_selector=None):
    """The serialized SchedulingStrategy of the options (b"" for the default)."""
    if (strategy is None or strategy == "DEFAULT") and not label_selector:
        return _NO_STRATEGY
    from cyray.protobuf import common_pb2

    message = common_pb2.SchedulingStrategy()
    if strategy == "SPREAD":
        message.kind = common_pb2.SchedulingStrategy.SPREAD
    elif isinstance(strategy, strategies.NodeAffinitySchedulingStrategy):
        message.kind = common_pb2.SchedulingStrategy.NODE_AFFINITY
        try:
            message.node_id = bytes.fromhex(strategy.node_id)
        except ValueError:
            message.node_id = b""
        if len(message.node_id) != NODE_ID_SIZE:
            raise ValueError(f"NodeAffinitySchedulingStrategy: node_id {strategy.node_id!r} is "
                             f"not a node id ({NODE_ID_SIZE * 2} hex digits; see cyray.nodes())")
        message.soft = bool(strategy.soft)
        message.spill_on_unavailable = bool(strategy._spill_on_unavailable)
        message.fail_on_unavailable = bool(strategy._fail_on_unavailable)
    elif isinstance(strategy, strategies.NodeLabelSchedulingStrategy):
        message.kind = common_pb2.SchedulingStrategy.NODE_LABEL
        _add_conditions(message.hard, strategy.hard or {})
        _add_conditions(message.soft_labels, strategy.soft or {})
    if label_selector:
        _add_selector(message.hard, label_selector)
    return message.SerializeToString()


def _add_conditions(out, conditions):
    from cyray.protobuf import common_pb2

    match = common_pb2.LabelMatch
    for key, condition in conditions.items():
        if isinstance(condition, strategies.In):
            out.add(key=key, op=match.IN, values=condition.values)
        elif isinstance(condition, strategies.NotIn):
            out.add(key=key, op=match.NOT_IN, values=condition.values)
        elif isinstance(condition, strategies.Exists):
            out.add(key=key, op=match.EXISTS)
        else:
            out.add(key=key, op=match.DOES_NOT_EXIST)


def _add_selector(out, selector):
    """Ray's label_selector values: "v" (equals), "!v" (differs), "in(a,b)", "!in(a,b)"."""
    from cyray.protobuf import common_pb2

    match = common_pb2.LabelMatch
    for key, value in selector.items():
        negate = value.startswith("!")
        body = value[1:] if negate else value
        if body.startswith("in(") and body.endswith(")"):
            values = [v.strip() for v in body[3:-1].split(",") if v.strip()]
        else:
            values = [body]
        out.add(key=key, op=match.NOT_IN if negate else match.IN, values=values)


def check_label_selector(option, value):
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and k and isinstance(v, str) and v.lstrip("!")
            for k, v in value.items()):
        raise TypeError(f"The option '{option}' takes a dict of label key to a value string "
                        "('v', '!v', 'in(a,b)' or '!in(a,b)'), got "
                        f"{value!r}.")
