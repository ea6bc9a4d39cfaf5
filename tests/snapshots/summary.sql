SELECT count(*) AS messages, coalesce(sum(messages.input_tokens), $1::INTEGER) + coalesce(sum(messages.output_tokens), $2::INTEGER) AS total_tokens, count(DISTINCT messages.user_id) AS users 
FROM messages 
WHERE messages.ts >= $3::TIMESTAMP WITH TIME ZONE AND messages.ts < $4::TIMESTAMP WITH TIME ZONE AND messages.app_id = ANY ($5::TEXT[])
