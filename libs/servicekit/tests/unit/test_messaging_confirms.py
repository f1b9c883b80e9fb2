from servicekit.messaging.confirms import ConfirmTracker, Outgoing


def tracker_with(n):
    t = ConfirmTracker()
    t.start_batch()
    tags = [t.published(f"m{i}") for i in range(n)]
    return t, tags


def test_delivery_tags_count_from_one_across_batches():
    t, tags = tracker_with(3)
    assert tags == [1, 2, 3]
    t.on_ack(3, multiple=True)
    t.start_batch()
    assert t.published("next") == 4


def test_multiple_ack_settles_every_pending_tag_up_to_it():
    t, _ = tracker_with(4)
    t.on_ack(3, multiple=True)
    assert list(t.pending) == [4]
    t.on_ack(4, multiple=False)
    assert t.pending == {}
    assert [t.error_for(tag, f"m{tag - 1}") for tag in (1, 2, 3, 4)] == [None] * 4


def test_nack_and_return_are_reported_per_message():
    t, _ = tracker_with(3)
    t.on_return("m1", "NO_ROUTE")
    t.on_ack(2, multiple=False)  # a returned message is still acked by RabbitMQ
    t.on_nack(3, multiple=False)
    t.on_ack(1, multiple=False)
    assert t.error_for(1, "m0") is None
    assert t.error_for(2, "m1") == "unroutable: NO_ROUTE"
    assert t.error_for(3, "m2") == "nacked by the broker"


def test_multiple_nack_marks_all_pending_up_to_the_tag():
    t, _ = tracker_with(3)
    t.on_ack(1, multiple=False)
    t.on_nack(3, multiple=True)
    assert t.error_for(1, "m0") is None
    assert t.error_for(2, "m1") == t.error_for(3, "m2") == "nacked by the broker"


def test_unsettled_message_is_an_error():
    t, _ = tracker_with(1)
    assert t.error_for(1, "m0") == "not confirmed"


def test_outgoing_becomes_a_persistent_json_message():
    msg = Outgoing(exchange="x", routing_key="a.b.v1", body='{"k": "é"}', message_id="id-1",
                   headers={"correlation_id": "c"}).to_amqp()
    assert msg.body == '{"k": "é"}'.encode()
    assert msg.properties["delivery_mode"] == 2
    assert msg.properties["content_type"] == "application/json"
    assert msg.properties["message_id"] == "id-1"
    assert msg.properties["application_headers"] == {"correlation_id": "c"}
