"""cyray demo: what the build provides so far (IDs from the C++ core)."""

import cyray

job = cyray.JobID.from_int(1)
task = cyray.TaskID.for_normal_task(job, cyray.TaskID.for_driver_task(job), 1)
print(f"cyray {cyray.__version__}")
print(f"job    {job}")
print(f"task   {task}")
print(f"object {cyray.ObjectID.from_index(task, 1)}")
