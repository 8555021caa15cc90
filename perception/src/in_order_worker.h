#pragma once
// A thread that works through jobs in the order they come and hands the
// results back in that order: the scene tracker's final pass and the place
// graph run on one each, overlapping the caller's work without changing
// any result (each job's result depends only on the jobs before it).

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace dyn4d::perception::internal {

template <typename Job, typename Result>
class InOrderWorker {
 public:
  explicit InOrderWorker(std::function<Result(Job&)> work)
      : work_(std::move(work)), thread_([this] { Run(); }) {}
  ~InOrderWorker() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;  // jobs not started are dropped
    }
    changed_.notify_all();
    thread_.join();
  }
  InOrderWorker(const InOrderWorker&) = delete;
  InOrderWorker& operator=(const InOrderWorker&) = delete;

  /// Queues a job once fewer than `max_waiting` jobs wait to be started
  /// (waits for that; bounds the memory held). Rethrows a job's failure.
  void Push(Job job, size_t max_waiting) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock,
                  [&] { return failure_ || waiting_.size() < std::max<size_t>(1, max_waiting); });
    if (failure_) std::rethrow_exception(failure_);
    waiting_.push_back(std::move(job));
    ++pushed_;
    lock.unlock();
    changed_.notify_all();
  }

  /// Waits until every pushed job is finished. Rethrows a job's failure.
  void Wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return failure_ || pushed_ == finished_; });
    if (failure_) std::rethrow_exception(failure_);
  }

  /// The results not yet taken, oldest first, once at most `max_in_work`
  /// pushed jobs are unfinished (waits for that). Rethrows a job's failure.
  std::vector<Result> Take(size_t max_in_work) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return failure_ || pushed_ - finished_ <= max_in_work; });
    if (failure_) std::rethrow_exception(failure_);
    std::vector<Result> out;
    out.reserve(results_.size());
    for (Result& r : results_) out.push_back(std::move(r));
    results_.clear();
    return out;
  }

 private:
  void Run() {
    for (;;) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return stopping_ || !waiting_.empty(); });
        if (stopping_) return;
        job = std::move(waiting_.front());
        waiting_.pop_front();
      }
      changed_.notify_all();  // room to push
      std::optional<Result> result;
      std::exception_ptr error;
      try {
        result.emplace(work_(job));
      } catch (...) {
        error = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (result) results_.push_back(std::move(*result)), ++finished_;
        if (error) failure_ = error;
      }
      changed_.notify_all();
      if (error) return;
    }
  }

  std::function<Result(Job&)> work_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Job> waiting_;
  std::deque<Result> results_;
  size_t pushed_ = 0, finished_ = 0;
  bool stopping_ = false;
  std::exception_ptr failure_;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace dyn4d::perception::internal
