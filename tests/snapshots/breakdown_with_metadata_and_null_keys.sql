SELECT messages.user_id AS n0, messages.provider AS g0, messages.metadata ->> $1::TEXT AS g1, count(*) AS messages 
FROM messages 
WHERE messages.tags && $2::TEXT[] AND (messages.metadata ->> $3::TEXT) = ANY ($4::TEXT[]) AND (messages.user_id = ANY ($5::TEXT[]) OR messages.user_id IS NULL) GROUP BY n0, g0, g1 ORDER BY n0, messages ASC, g0 ASC NULLS LAST, g1 ASC NULLS LAST
