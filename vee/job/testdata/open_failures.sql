SELECT meter_id, window_start, window_end, argMax(first_failed_at, computed_at), argMax(attempts, computed_at)
FROM vee_failures
GROUP BY meter_id, window_start, window_end
HAVING argMax(status, computed_at) = 'failed'
ORDER BY meter_id, window_start, window_end
