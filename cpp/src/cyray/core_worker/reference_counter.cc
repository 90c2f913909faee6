#include "cyray/core_worker/reference_counter.h"

namespace cyray::core {

void ReferenceCounter::AddOwnedObject(const ObjectID &id) {
  std::lock_guard<std::mutex> lock(mu_);
  refs_[id].owned = true;
}

bool ReferenceCounter::AddBorrowedObject(const ObjectID &id, const std::string &owner_address) {
  std::lock_guard<std::mutex> lock(mu_);
  auto &entry = refs_[id];
  if (entry.owned) return false;
  if (entry.owner_address.empty()) entry.owner_address = owner_address;
  bool first = !entry.owner_told;
  entry.owner_told = true;
  return first;
}

bool ReferenceCounter::AddBorrower(const ObjectID &id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = refs_.find(id);
  if (it == refs_.end()) return false;
  it->second.borrowers++;
  return true;
}

void ReferenceCounter::RemoveBorrower(const ObjectID &id) {
  bool erased;
  bool owned;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = refs_.find(id);
    if (it == refs_.end()) return;
    if (it->second.borrowers > 0) it->second.borrowers--;
    owned = it->second.owned;
    erased = EraseIfUnreferencedLocked(id);
  }
  if (erased) on_delete_(id, owned);
}

void ReferenceCounter::SetCallSite(const ObjectID &id, const std::string &call_site) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = refs_.find(id);
  if (it != refs_.end() && it->second.call_site.empty()) it->second.call_site = call_site;
}

std::vector<ReferenceCounter::RefStats> ReferenceCounter::Snapshot() const {
  std::vector<RefStats> out;
  std::lock_guard<std::mutex> lock(mu_);
  out.reserve(refs_.size());
  for (const auto &[id, entry] : refs_) {
    out.push_back({id, entry.owned, entry.local_refs, entry.submitted_task_refs, entry.borrowers,
                   entry.call_site});
  }
  return out;
}

void ReferenceCounter::AddLocalReference(const ObjectID &id) {
  std::lock_guard<std::mutex> lock(mu_);
  refs_[id].local_refs++;
}

bool ReferenceCounter::EraseIfUnreferencedLocked(const ObjectID &id) {
  auto it = refs_.find(id);
  if (it == refs_.end()) return false;
  if (it->second.local_refs > 0 || it->second.submitted_task_refs > 0 || it->second.borrowers > 0) {
    return false;
  }
  refs_.erase(it);
  return true;
}

void ReferenceCounter::RemoveLocalReference(const ObjectID &id) {
  bool erased;
  bool owned;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = refs_.find(id);
    if (it == refs_.end()) return;
    if (it->second.local_refs > 0) it->second.local_refs--;
    owned = it->second.owned;
    erased = EraseIfUnreferencedLocked(id);
  }
  if (erased) on_delete_(id, owned);
}

void ReferenceCounter::AddSubmittedTaskReferences(const std::vector<ObjectID> &ids) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto &id : ids) refs_[id].submitted_task_refs++;
}

void ReferenceCounter::RemoveSubmittedTaskReferences(const std::vector<ObjectID> &ids) {
  std::vector<std::pair<ObjectID, bool>> erased;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto &id : ids) {
      auto it = refs_.find(id);
      if (it == refs_.end()) continue;
      if (it->second.submitted_task_refs > 0) it->second.submitted_task_refs--;
      bool owned = it->second.owned;
      if (EraseIfUnreferencedLocked(id)) erased.push_back({id, owned});
    }
  }
  for (const auto &[id, owned] : erased) on_delete_(id, owned);
}

bool ReferenceCounter::Has(const ObjectID &id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return refs_.count(id) > 0;
}

bool ReferenceCounter::IsOwned(const ObjectID &id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = refs_.find(id);
  return it != refs_.end() && it->second.owned;
}

std::optional<std::string> ReferenceCounter::BorrowedOwnerAddress(const ObjectID &id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = refs_.find(id);
  if (it == refs_.end() || it->second.owned || it->second.owner_address.empty()) {
    return std::nullopt;
  }
  return it->second.owner_address;
}

size_t ReferenceCounter::Size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return refs_.size();
}

}  // namespace cyray::core
