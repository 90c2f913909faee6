"""Scheduling strategies for the `scheduling_strategy` option, named and constructed as
Ray's (ray.util.scheduling_strategies): None or "DEFAULT" (Ray's hybrid policy), "SPREAD",
`NodeAffinitySchedulingStrategy` and `NodeLabelSchedulingStrategy` (with the label
operators `In`, `NotIn`, `Exists`, `DoesNotExist`). `PlacementGroupSchedulingStrategy` is
accepted by the constructor but `.options()` refuses it until placement groups exist."""


class PlacementGroupSchedulingStrategy:
    """Run in a bundle of a placement group (bundle index -1: any of its bundles)."""

    def __init__(self, placement_group, placement_group_bundle_index=-1,
                 placement_group_capture_child_tasks=None):
        self.placement_group = placement_group
        self.placement_group_bundle_index = placement_group_bundle_index
        self.placement_group_capture_child_tasks = placement_group_capture_child_tasks


class NodeAffinitySchedulingStrategy:
    """Run on the node `node_id` (hex string), waiting there while it is busy; with
    soft=True, elsewhere when that node is dead or can never fit the task. Ray's private
    options: `_spill_on_unavailable` (with soft=True) goes elsewhere while the node is busy,
    `_fail_on_unavailable` fails the task with TaskUnschedulableError then."""

    def __init__(self, node_id, soft, _spill_on_unavailable=False, _fail_on_unavailable=False):
        # Ray takes a NodeID too and keeps its hex form.
        self.node_id = node_id if isinstance(node_id, str) else node_id.hex()
        self.soft = soft
        self._spill_on_unavailable = _spill_on_unavailable
        self._fail_on_unavailable = _fail_on_unavailable


class In:
    """The label's value is one of `values`."""

    def __init__(self, *values):
        _check_values("In", values)
        self.values = list(values)


class NotIn:
    """The label is absent or its value is none of `values`."""

    def __init__(self, *values):
        _check_values("NotIn", values)
        self.values = list(values)


class Exists:
    """The node has the label."""


class DoesNotExist:
    """The node does not have the label."""


def _check_values(operator, values):
    if not values or not all(isinstance(v, str) for v in values):
        raise ValueError(f"{operator}(...) takes one or more label values as strings, got "
                         f"{values!r}.")


LABEL_OPERATORS = (In, NotIn, Exists, DoesNotExist)


class NodeLabelSchedulingStrategy:
    """Run on a node whose labels match every condition of `hard` (and preferably those of
    `soft`): dicts of label key to In(...), NotIn(...), Exists() or DoesNotExist()."""

    def __init__(self, hard, *, soft=None):
        for name, conditions in (("hard", hard), ("soft", soft)):
            if conditions is None and name == "soft":
                continue
            if not isinstance(conditions, dict) or not all(
                    isinstance(k, str) and isinstance(v, LABEL_OPERATORS)
                    for k, v in conditions.items()):
                raise ValueError(
                    f"NodeLabelSchedulingStrategy({name}=...) takes a dict of label key to "
                    f"In(...), NotIn(...), Exists() or DoesNotExist(), got {conditions!r}.")
        if not hard and not soft:
            raise ValueError("NodeLabelSchedulingStrategy needs at least one hard or soft "
                             "condition.")
        self.hard = hard
        self.soft = soft


SCHEDULING_STRATEGY_CLASSES = (PlacementGroupSchedulingStrategy, NodeAffinitySchedulingStrategy,
                               NodeLabelSchedulingStrategy)

__all__ = ["PlacementGroupSchedulingStrategy", "NodeAffinitySchedulingStrategy",
           "NodeLabelSchedulingStrategy", "In", "NotIn", "Exists", "DoesNotExist"]
