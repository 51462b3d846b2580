"""The ETA helper shared by training, segmentation and sharded runs."""

from __future__ import annotations

from flair_qgis.progress import Eta, Throttle, duration


def test_eta_adds_each_kind_of_work_at_its_own_rate():
    eta = Eta()
    assert eta.per_unit("train") is None and eta.left(train=10) == 0.0
    eta.add("train", 2, 4.0)   # 2 s a batch
    eta.add("val", 10, 1.0)    # 0.1 s a patch
    eta.add("train", 1, 2.0)
    assert eta.per_unit("train") == 2.0
    assert eta.left(train=5, val=20) == 5 * 2.0 + 20 * 0.1


def test_durations_read_as_people_write_them():
    assert [duration(s) for s in (0.4, 42, 185, 7620)] == ["0 s", "42 s", "3 min 05 s", "2 h 07 min"]


def test_throttle_lets_one_call_through_per_period():
    due = Throttle(3600)
    assert due() and not due() and not due()
    assert Throttle(0)() and Throttle(0)()
