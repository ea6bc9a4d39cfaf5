SELECT numbered.n0, numbered.g0, numbered.requests 
FROM (SELECT per_scope.n0 AS n0, per_scope.g0 AS g0, per_scope.requests AS requests, row_number() OVER (PARTITION BY per_scope.n0 ORDER BY per_scope.requests DESC NULLS LAST, per_scope.g0 COLLATE "C" ASC NULLS LAST) AS rank_in_scope 
FROM (SELECT date_trunc($1::VARCHAR, messages.ts, $2::VARCHAR) AS n0, tag AS g0, count(*) FILTER (WHERE messages.role = $3::VARCHAR) AS requests 
FROM messages, unnest(messages.tags) AS tag 
WHERE tag ILIKE $4::VARCHAR ESCAPE '\' AND messages.ts >= $5::TIMESTAMP WITH TIME ZONE AND messages.ts < $6::TIMESTAMP WITH TIME ZONE AND tag IS NOT NULL GROUP BY n0, g0) AS per_scope) AS numbered 
WHERE numbered.rank_in_scope <= $7::INTEGER ORDER BY numbered.n0, numbered.rank_in_scope
