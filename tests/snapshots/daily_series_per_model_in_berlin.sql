SELECT per_scope.n0, per_scope.g0, per_scope.requests 
FROM (SELECT messages.model AS n0, date_trunc($1::VARCHAR, messages.ts, $2::VARCHAR) AS g0, count(*) FILTER (WHERE messages.role = $3::VARCHAR) AS requests 
FROM messages 
WHERE messages.ts >= $4::TIMESTAMP WITH TIME ZONE AND messages.ts < $5::TIMESTAMP WITH TIME ZONE AND messages.app_id = ANY ($6::TEXT[]) AND messages.model = ANY ($7::TEXT[]) GROUP BY n0, g0) AS per_scope ORDER BY per_scope.n0, per_scope.g0 ASC NULLS LAST
