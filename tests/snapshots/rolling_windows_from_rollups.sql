SELECT per_scope.g0, per_scope.users, per_scope.window_end 
FROM (SELECT pairs.g0 AS g0, count(pairs.counted) AS users, pairs.window_end AS window_end 
FROM (SELECT keyed.g0 AS g0, keyed.window_end AS window_end, m.counted AS counted 
FROM (SELECT w.window_start AS g0, rollup.user_sets AS members, w.window_end AS window_end 
FROM (SELECT usage_daily_user_sets.day AS ts, usage_daily_user_sets.app_id AS app_id, array_append(usage_daily_user_sets.users, NULL) AS user_sets 
FROM usage_daily_user_sets 
WHERE usage_daily_user_sets.app_id = ANY (array((SELECT apps.app_id 
FROM apps))) AND usage_daily_user_sets.day >= $1::TIMESTAMP WITH TIME ZONE AND usage_daily_user_sets.day < $2::TIMESTAMP WITH TIME ZONE) AS rollup JOIN unnest($3::TIMESTAMP WITH TIME ZONE[], $4::TIMESTAMP WITH TIME ZONE[]) AS w(window_start, window_end) ON rollup.ts >= w.window_start AND rollup.ts < w.window_end) AS keyed JOIN LATERAL unnest(keyed.members) AS m(counted) ON true GROUP BY keyed.g0, keyed.window_end, m.counted) AS pairs GROUP BY pairs.g0, pairs.window_end) AS per_scope ORDER BY per_scope.g0 ASC NULLS LAST
