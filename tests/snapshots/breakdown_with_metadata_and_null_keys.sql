SELECT per_scope.n0, per_scope.g0, per_scope.g1, per_scope.messages 
FROM (SELECT messages.user_id AS n0, messages.provider AS g0, messages.metadata ->> $1::TEXT AS g1, count(*) AS messages 
FROM messages 
WHERE messages.tags && $2::TEXT[] AND (messages.metadata ->> $3::TEXT) = ANY ($4::TEXT[]) AND (messages.user_id = ANY ($5::TEXT[]) OR messages.user_id IS NULL) GROUP BY n0, g0, g1) AS per_scope ORDER BY per_scope.n0, per_scope.messages ASC, per_scope.g0 COLLATE "C" ASC NULLS LAST, per_scope.g1 COLLATE "C" ASC NULLS LAST
