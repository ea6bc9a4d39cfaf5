SELECT count(*) AS messages, coalesce(sum(messages.input_tokens + messages.output_tokens), $1::INTEGER) AS total_tokens, count(DISTINCT messages.user_id) AS users 
FROM messages 
WHERE messages.ts >= $2::TIMESTAMP WITH TIME ZONE AND messages.ts < $3::TIMESTAMP WITH TIME ZONE AND messages.app_id = ANY ($4::TEXT[])
