-- retry_state.lua: record, or forget, a job's retry state. Registered as the
-- write fragment "retry.state": it rides the ack of the run that failed (a
-- retry scheduled or given up) or succeeded (a retried job done).
-- KEYS[1] the job's retry state key
-- ARGV[1] the state (JSON), or '' to forget it   ARGV[2] seconds to keep it
if ARGV[1] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
