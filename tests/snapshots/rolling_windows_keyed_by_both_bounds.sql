SELECT per_scope.g0, per_scope.users, per_scope.window_end 
FROM (SELECT w.window_start AS g0, count(DISTINCT messages.user_id) AS users, w.window_end AS window_end 
FROM messages JOIN unnest($1::TIMESTAMP WITH TIME ZONE[], $2::TIMESTAMP WITH TIME ZONE[]) AS w(window_start, window_end) ON messages.ts >= w.window_start AND messages.ts < w.window_end GROUP BY g0, w.window_end) AS per_scope ORDER BY per_scope.g0 ASC NULLS LAST
