SELECT per_scope.g0, per_scope.latency_p95, per_scope.requests, per_scope.spend 
FROM (SELECT messages.model AS g0, percentile_cont($1::FLOAT) WITHIN GROUP (ORDER BY messages.latency_ms) AS latency_p95, count(*) FILTER (WHERE messages.role = $2::VARCHAR) AS requests, CASE WHEN (count(*) FILTER (WHERE messages.role = $2::VARCHAR) > $3::INTEGER AND count(*) FILTER (WHERE messages.role = $2::VARCHAR AND messages.cost IS NULL) = count(*) FILTER (WHERE messages.role = $2::VARCHAR) AND coalesce(sum(messages.cost), $4::INTEGER) = $5::INTEGER) THEN NULL ELSE coalesce(sum(messages.cost), $4::INTEGER) END AS spend 
FROM messages 
WHERE messages.ts >= $6::TIMESTAMP WITH TIME ZONE AND messages.ts < $7::TIMESTAMP WITH TIME ZONE AND messages.app_id = ANY ($8::TEXT[]) AND messages.model IS NOT NULL GROUP BY g0) AS per_scope ORDER BY per_scope.spend DESC NULLS LAST, per_scope.g0 COLLATE "C" ASC NULLS LAST 
 LIMIT $9::INTEGER
