SELECT per_scope.g0, per_scope.latency_p95, per_scope.requests, per_scope.spend 
FROM (SELECT messages.model AS g0, percentile_cont($1::FLOAT) WITHIN GROUP (ORDER BY messages.latency_ms) AS latency_p95, count(*) FILTER (WHERE messages.role = $2::VARCHAR) AS requests, coalesce(sum(messages.cost), $3::INTEGER) AS spend 
FROM messages 
WHERE messages.ts >= $4::TIMESTAMP WITH TIME ZONE AND messages.ts < $5::TIMESTAMP WITH TIME ZONE AND messages.app_id = ANY ($6::TEXT[]) AND messages.model IS NOT NULL GROUP BY g0) AS per_scope ORDER BY per_scope.spend DESC NULLS LAST, per_scope.g0 COLLATE "C" ASC NULLS LAST 
 LIMIT $7::INTEGER
