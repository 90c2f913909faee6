// LineageTable: the tasks that made the shared-memory objects this process
// owns, kept so that a lost object can be rebuilt by running its task again
// (Ray's lineage reconstruction). An object's lineage is kept while the
// object is in scope, and past that while the lineage of a later task takes
// it as a shared-memory argument: rebuilding that later task may need this
// object rebuilt first, though its value was freed long ago (as in Ray, only
// the task is kept, not the value). Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "cyray/common/id.h"
#include "cyray/protobuf/common.pb.h"

namespace cyray::core {

class LineageTable {
 public:
  // Whether this process still references the object (the reference
  // counter's view). Called with the table's lock held: it must not call back.
  using InScope = std::function<bool(const ObjectID &)>;
  explicit LineageTable(InScope in_scope) : in_scope_(std::move(in_scope)) {}

  // `spec` (as it ran: arguments resolved) made `returns`, shared-memory
  // objects this process owns; its arguments in shared memory that have
  // lineage here are pinned while its own lineage lives. Returns no longer in
  // scope are skipped. A task seen before (a rebuild) keeps its entry, with
  // the new attempt number, and its rebuild ends.
  void Record(const rpc::TaskSpec &spec, const std::vector<ObjectID> &returns);
  // The object left scope: its lineage goes, unless a later task's pins it.
  void OnOutOfScope(const ObjectID &id);

  // Whether a lost object can be rebuilt: its task may run again, and each of
  // that task's arguments is in scope or can be rebuilt itself.
  bool CanRebuild(const ObjectID &id) const;

  struct Rebuild {
    rpc::TaskSpec spec;
    // Arguments that left scope: their values are gone, so they must be
    // rebuilt before the task can run.
    std::vector<ObjectID> args_to_rebuild;
  };
  // Marks the object's task as rebuilding and returns what to run; nullopt
  // when no lineage is kept or the task is being rebuilt already.
  std::optional<Rebuild> StartRebuild(const ObjectID &id);
  // Whether the object's lineage is kept (its task can be found to rebuild it).
  bool Has(const ObjectID &id) const;
  // The task's rebuild failed; returns whether it was being rebuilt.
  bool EndRebuild(const TaskID &task);

  size_t NumObjects() const;
  size_t NumTasks() const;

 private:
  struct TaskLineage {
    rpc::TaskSpec spec;
    // Returns whose lineage is still kept; the task goes with the last.
    int kept_returns = 0;
    // Arguments whose lineage this task pins.
    std::vector<ObjectID> pinned_args;
  };
  struct ObjectLineage {
    TaskID task;
    // Tasks kept in the lineage that take this object as an argument.
    int pins = 0;
  };
  bool CanRebuildLocked(const ObjectID &id, int depth) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops the object's lineage, then whatever only it kept.
  void DropLocked(const ObjectID &id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  InScope in_scope_;
  mutable std::mutex mu_;
  std::unordered_map<TaskID, TaskLineage> tasks_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<ObjectID, ObjectLineage> objects_ ABSL_GUARDED_BY(mu_);
  std::unordered_set<TaskID> rebuilding_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cyray::core
