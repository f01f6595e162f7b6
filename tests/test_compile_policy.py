"""The rent-or-buy rule of ``hf_addons.compile_policy`` shared by the fused CPU paths."""

from __future__ import annotations

import pickle
import time

import pytest

from hf_addons.compile_policy import RentOrBuy, buy_now


def test_buy_once_renting_has_cost_the_price():
    assert not buy_now(None, 1.0) and not buy_now(0.99, 1.0) and buy_now(1.0, 1.0)
    meter = RentOrBuy(buy_after_s=0.02)
    assert not meter.due()
    with meter.renting():
        time.sleep(0.03)
    assert meter.due() and meter.spent_s >= 0.03
    assert "after 0.02 s of eager calls" in meter.waiting_message("x")
    assert pickle.loads(pickle.dumps(meter)).spent_s == meter.spent_s
    with pytest.raises(ValueError, match="buy_after_s must be >= 0"):
        RentOrBuy(-1)
