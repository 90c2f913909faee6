#include "cyray/core_worker/lineage.h"

namespace cyray::core {

namespace {
// Deeper argument chains are not followed by CanRebuild (their rebuild is
// still tried; a failure then shows as the object's reconstruction failing).
constexpr int kMaxCheckDepth = 100;

bool MayRunAgain(const rpc::TaskSpec &spec) {
  return spec.max_retries() < 0 || static_cast<int64_t>(spec.attempt_number()) < spec.max_retries();
}
}  // namespace

void LineageTable::Record(const rpc::TaskSpec &spec, const std::vector<ObjectID> &returns) {
  TaskID task_id = TaskID::FromBinary(spec.task_id());
  std::lock_guard<std::mutex> lock(mu_);
  rebuilding_.erase(task_id);
  auto known = tasks_.find(task_id);
  if (known != tasks_.end()) {
    known->second.spec.set_attempt_number(spec.attempt_number());
    return;
  }
  TaskLineage task;
  for (const ObjectID &id : returns) {
    if (!in_scope_(id) || objects_.count(id) > 0) continue;
    objects_[id].task = task_id;
    task.kept_returns++;
  }
  if (task.kept_returns == 0) return;
  for (const auto &arg : spec.args()) {
    if (!arg.in_plasma()) continue;
    auto it = objects_.find(ObjectID::FromBinary(arg.object_ref().object_id()));
    if (it == objects_.end()) continue;
    it->second.pins++;
    task.pinned_args.push_back(it->first);
  }
  task.spec = spec;
  tasks_.emplace(task_id, std::move(task));
}

void LineageTable::OnOutOfScope(const ObjectID &id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = objects_.find(id);
  if (it != objects_.end() && it->second.pins == 0) DropLocked(id);
}

void LineageTable::DropLocked(const ObjectID &first) {
  std::vector<ObjectID> to_drop{first};
  while (!to_drop.empty()) {
    ObjectID id = to_drop.back();
    to_drop.pop_back();
    auto object = objects_.find(id);
    if (object == objects_.end()) continue;
    TaskID task_id = object->second.task;
    objects_.erase(object);
    auto task = tasks_.find(task_id);
    if (task == tasks_.end() || --task->second.kept_returns > 0) continue;
    for (const ObjectID &arg : task->second.pinned_args) {
      auto pinned = objects_.find(arg);
      if (pinned == objects_.end()) continue;
      if (--pinned->second.pins == 0 && !in_scope_(arg)) to_drop.push_back(arg);
    }
    rebuilding_.erase(task_id);
    tasks_.erase(task);
  }
}

bool LineageTable::CanRebuild(const ObjectID &id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return CanRebuildLocked(id, 0);
}

bool LineageTable::CanRebuildLocked(const ObjectID &id, int depth) const {
  auto object = objects_.find(id);
  if (object == objects_.end()) return false;
  auto task = tasks_.find(object->second.task);
  if (task == tasks_.end() || !MayRunAgain(task->second.spec)) return false;
  if (depth >= kMaxCheckDepth) return true;
  for (const auto &arg : task->second.spec.args()) {
    if (!arg.in_plasma()) continue;
    ObjectID arg_id = ObjectID::FromBinary(arg.object_ref().object_id());
    if (!in_scope_(arg_id) && !CanRebuildLocked(arg_id, depth + 1)) return false;
  }
  return true;
}

std::optional<LineageTable::Rebuild> LineageTable::StartRebuild(const ObjectID &id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto object = objects_.find(id);
  if (object == objects_.end()) return std::nullopt;
  auto task = tasks_.find(object->second.task);
  if (task == tasks_.end() || !rebuilding_.insert(task->first).second) return std::nullopt;
  Rebuild rebuild;
  rebuild.spec = task->second.spec;
  for (const auto &arg : rebuild.spec.args()) {
    if (!arg.in_plasma()) continue;
    ObjectID arg_id = ObjectID::FromBinary(arg.object_ref().object_id());
    if (!in_scope_(arg_id)) rebuild.args_to_rebuild.push_back(arg_id);
  }
  return rebuild;
}

bool LineageTable::Has(const ObjectID &id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return objects_.count(id) > 0;
}

bool LineageTable::EndRebuild(const TaskID &task) {
  std::lock_guard<std::mutex> lock(mu_);
  return rebuilding_.erase(task) > 0;
}

size_t LineageTable::NumObjects() const {
  std::lock_guard<std::mutex> lock(mu_);
  return objects_.size();
}

size_t LineageTable::NumTasks() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tasks_.size();
}

}  // namespace cyray::core
