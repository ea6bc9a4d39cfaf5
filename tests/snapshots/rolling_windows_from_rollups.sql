SELECT per_scope.g0, per_scope.users, per_scope.window_end 
FROM (SELECT members.g0 AS g0, count(DISTINCT members.counted) + coalesce(max(members.set_size), $1::INTEGER) AS users, members.window_end AS window_end 
FROM (SELECT sized.g0 AS g0, sized.window_end AS window_end, m.counted AS counted, CASE WHEN sized.alone THEN cardinality(sized.members) - $2::INTEGER END AS set_size 
FROM (SELECT keyed.g0 AS g0, keyed.window_end AS window_end, keyed.members AS members, count(*) OVER (PARTITION BY keyed.g0, keyed.window_end) = $3::INTEGER AS alone 
FROM (SELECT w.window_start AS g0, rollup.user_sets AS members, w.window_end AS window_end 
FROM (SELECT usage_daily_user_sets.day AS ts, usage_daily_user_sets.app_id AS app_id, array_append(usage_daily_user_sets.users, NULL) AS user_sets 
FROM usage_daily_user_sets 
WHERE usage_daily_user_sets.app_id = ANY (array((SELECT apps.app_id 
FROM apps))) AND usage_daily_user_sets.day >= $4::TIMESTAMP WITH TIME ZONE AND usage_daily_user_sets.day < $5::TIMESTAMP WITH TIME ZONE) AS rollup JOIN unnest($6::TIMESTAMP WITH TIME ZONE[], $7::TIMESTAMP WITH TIME ZONE[]) AS w(window_start, window_end) ON rollup.ts >= w.window_start AND rollup.ts < w.window_end) AS keyed) AS sized JOIN LATERAL unnest(CASE WHEN sized.alone THEN CAST(ARRAY[NULL] AS BIGINT[]) ELSE sized.members END) AS m(counted) ON true) AS members GROUP BY members.g0, members.window_end) AS per_scope ORDER BY per_scope.g0 ASC NULLS LAST
