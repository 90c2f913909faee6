"""Scheduling strategies for the `scheduling_strategy` option, named and constructed as
Ray's (ray.util.scheduling_strategies).

Besides None, "DEFAULT" and "SPREAD" (which cyray honours: on one node both place every
task on it), a task or actor may be given an instance of one of these classes. cyray
accepts them so that code written for Ray imports and builds them, but passing one to
`.options()` raises NotImplementedError until multi-node scheduling exists."""


class PlacementGroupSchedulingStrategy:
    """Run in a bundle of a placement group (bundle index -1: any of its bundles)."""

    def __init__(self, placement_group, placement_group_bundle_index=-1,
                 placement_group_capture_child_tasks=None):
        self.placement_group = placement_group
        self.placement_group_bundle_index = placement_group_bundle_index
        self.placement_group_capture_child_tasks = placement_group_capture_child_tasks


class NodeAffinitySchedulingStrategy:
    """Run on the node `node_id` (hex string); with soft=True, elsewhere if it cannot."""

    def __init__(self, node_id, soft, _spill_on_unavailable=False, _fail_on_unavailable=False):
        # Ray takes a NodeID too and keeps its hex form.
        self.node_id = node_id if isinstance(node_id, str) else node_id.hex()
        self.soft = soft
        self._spill_on_unavailable = _spill_on_unavailable
        self._fail_on_unavailable = _fail_on_unavailable


class NodeLabelSchedulingStrategy:
    """Run on a node whose labels match `hard` (and preferably `soft`)."""

    def __init__(self, hard, *, soft=None):
        self.hard = hard
        self.soft = soft


SCHEDULING_STRATEGY_CLASSES = (PlacementGroupSchedulingStrategy, NodeAffinitySchedulingStrategy,
                               NodeLabelSchedulingStrategy)

__all__ = ["PlacementGroupSchedulingStrategy", "NodeAffinitySchedulingStrategy",
           "NodeLabelSchedulingStrategy"]
