SELECT messages.model AS g0, percentile_cont($1::FLOAT) WITHIN GROUP (ORDER BY messages.latency_ms) AS latency_p95, count(*) FILTER (WHERE messages.role = $2::VARCHAR) AS requests, coalesce(sum(messages.cost), $3::INTEGER) AS spend 
FROM messages 
WHERE messages.ts >= $4::TIMESTAMP WITH TIME ZONE AND messages.ts < $5::TIMESTAMP WITH TIME ZONE AND messages.app_id = ANY ($6::TEXT[]) AND messages.model IS NOT NULL GROUP BY g0 ORDER BY spend DESC NULLS LAST, g0 ASC NULLS LAST 
 LIMIT $7::INTEGER
