"""The chats of one model over a period are read through the (app, model, hour) index of
`usage_hourly_chats` (migration 0014), not by reading every model's rows: the chat panels of Open
WebUI's model overview ask exactly that (`usage(filter: {models: [...]}) { chats chatTags }`)."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from tests.plans import analyzed_plan, nodes
from usageql.db.engine import create_engine

START = datetime(2026, 1, 1, tzinfo=UTC)
MODELS = 12
HOURS = 24 * 60


async def test_a_models_chats_in_a_month_are_read_through_the_model_index(
    database_url: str,
) -> None:
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO apps (app_id) VALUES ('a'), ('b')"))
            await connection.execute(
                text(
                    "INSERT INTO usage_hourly_chats (app_id, hour, chat_id, user_id, model,"
                    " messages) SELECT CASE WHEN i % 3 = 0 THEN 'b' ELSE 'a' END,"
                    " CAST(:start AS timestamptz) + (i % :hours) * interval '1 hour', 'c' || i,"
                    " 'u' || i % 50,"
                    " 'model-' || i % :models, 1 FROM generate_series(1, 60000) AS i"
                ),
                {"start": START, "hours": HOURS, "models": MODELS},
            )
        plan = await analyzed_plan(
            engine,
            "usage_hourly_chats",
            text(
                "EXPLAIN (ANALYZE, FORMAT JSON) SELECT DISTINCT app_id, chat_id"
                " FROM usage_hourly_chats WHERE app_id = ANY(array(SELECT app_id FROM apps))"
                " AND model = ANY(:models) AND hour >= :start AND hour < :end"
            ),
            {
                "models": ["model-3"],
                "start": START + timedelta(days=20),
                "end": START + timedelta(days=50),
            },
        )
    finally:
        await engine.dispose()
    scans = [
        node
        for node in nodes(plan)
        if "usage_hourly_chats" in str(node.get("Relation Name", "")) or "Index Name" in node
    ]
    used = {node.get("Index Name") for node in scans}
    assert "ix_usage_hourly_chats_app_id_model_hour" in used, plan
    assert not any(node["Node Type"] == "Seq Scan" for node in scans), plan
    # Half of that model's rows are in the 30 days: what is read, no more.
    assert (
        sum(node.get("Actual Rows", 0) for node in scans if node.get("Relation Name"))
        <= 60000 // MODELS
    )
