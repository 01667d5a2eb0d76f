from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.payments import PaymentLedger, PayoutKind, PayoutOrder, PayoutReceipt, list_payouts
from activities.register import Register, RegisterApplication
from domain.bank import InvalidBankgiro, format_bankgiro, is_bankgiro, normalize_bankgiro
from domain.identity import luhn_check_digit
from infra.converter import PLAIN
from tests.activities.support import CrashAfterCommit, SimulatedCrash, SlowPool, scalar

CASE = "2022-00001"
PAYEE_BANKGIRO = "5050-1055"


async def register_cases(pool, count: int) -> list[str]:
    """`count` cases in the register (payouts refer to them), numbered 2022-00001 and on."""
    register = Register(pool)
    numbers = []
    for n in range(1, count + 1):
        registered = await register.register_application(
            RegisterApplication(
                submission_id=f"sub-{n}",
                call_id="saker-digitalisering-2022",
                received_at=datetime(2022, 3, 1, 10, 0, tzinfo=UTC),
                imported=False,
                sender_name=f"Företag {n} AB",
                sender_org_number="556036-0793",
                subject=f"Projekt {n}",
                requested_amount=Decimal("500000.00"),
            )
        )
        numbers.append(registered.case_number)
    return numbers


def order(
    case_number: str = CASE,
    request_number: int = 1,
    amount: str = "125000.50",
    *,
    kind: PayoutKind | None = None,
    payee_name: str = "Företag 1 AB",
    payee_bankgiro: str = PAYEE_BANKGIRO,
) -> PayoutOrder:
    if kind is None:
        kind = PayoutKind.ADVANCE if request_number == 0 else PayoutKind.PAYMENT
    return PayoutOrder(
        case_number=case_number,
        request_number=request_number,
        kind=kind,
        amount=Decimal(amount),
        payee_name=payee_name,
        payee_bankgiro=payee_bankgiro,
        reference=case_number,
    )


@pytest.fixture
async def case(pool) -> str:
    [number] = await register_cases(pool, 1)
    assert number == CASE
    return number


async def payout_rows(pool) -> int:
    return await scalar(pool, "SELECT count(*) FROM payouts")


async def test_a_payout_is_recorded_once_and_a_repeat_returns_the_first(pool, case):
    ledger = PaymentLedger(pool)
    first = await ledger.pay(order())
    again = await ledger.pay(order())
    assert (first.first_time, again.first_time) == (True, False)
    assert (again.amount, again.paid_at) == (Decimal("125000.50"), first.paid_at)
    assert await payout_rows(pool) == 1
    [row] = await list_payouts(pool, CASE)
    assert (row.kind, row.amount, row.payee_bankgiro, row.reference, row.bank_file_id) == (
        PayoutKind.PAYMENT,
        Decimal("125000.50"),
        "50501055",
        CASE,
        None,
    )


async def test_a_retry_after_a_crash_after_commit_pays_once(pool, case):
    env = ActivityEnvironment()
    with pytest.raises(SimulatedCrash):
        await env.run(PaymentLedger(CrashAfterCommit(pool)).pay, order())  # type: ignore[arg-type]
    assert await payout_rows(pool) == 1
    retried = await env.run(PaymentLedger(pool).pay, order())
    assert not retried.first_time
    assert await payout_rows(pool) == 1
    assert await scalar(pool, "SELECT sum(amount) FROM payouts") == Decimal("125000.50")


async def test_twenty_identical_orders_at_once_make_one_payout(pool, case):
    # Slowed down so that the twenty transactions overlap: all of them insert the same
    # key while the first is still open.
    ledger = PaymentLedger(SlowPool(pool))  # type: ignore[arg-type]
    receipts = await asyncio.gather(*(ledger.pay(order()) for _ in range(20)))
    assert sum(r.first_time for r in receipts) == 1
    assert len({r.paid_at for r in receipts}) == 1
    assert await payout_rows(pool) == 1


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"amount": "125000.51"}, "amount"),
        ({"payee_name": "Någon annan AB"}, "payee_name"),
        ({"payee_bankgiro": "123-4566"}, "payee_bankgiro"),
        ({"kind": PayoutKind.FINAL}, "kind"),
    ],
)
async def test_the_same_key_with_other_content_is_refused_not_paid_again(pool, case, change, named):
    ledger = PaymentLedger(pool)
    await ledger.pay(order())
    with pytest.raises(ApplicationError) as refused:
        await ledger.pay(order(**change))
    assert refused.value.type == "PayoutConflict"
    assert refused.value.non_retryable
    assert named in str(refused.value) and f"{CASE}-1" in str(refused.value)
    assert await payout_rows(pool) == 1
    assert await scalar(pool, "SELECT amount FROM payouts") == Decimal("125000.50")


async def test_the_same_bankgiro_written_another_way_is_the_same_payee(pool, case):
    ledger = PaymentLedger(pool)
    await ledger.pay(order(payee_bankgiro="5050-1055"))
    again = await ledger.pay(order(payee_bankgiro=" 50501055 "))
    assert not again.first_time


async def test_the_advance_payments_and_final_of_a_case_are_separate_payouts(pool, case):
    ledger = PaymentLedger(pool)
    await ledger.pay(order(request_number=0, amount="100000.00"))
    await ledger.pay(order(request_number=1, amount="50000.00"))
    await ledger.pay(order(request_number=2, amount="25000.00", kind=PayoutKind.FINAL))
    rows = await list_payouts(pool, CASE)
    assert [(r.request_number, r.kind) for r in rows] == [
        (0, PayoutKind.ADVANCE),
        (1, PayoutKind.PAYMENT),
        (2, PayoutKind.FINAL),
    ]


async def test_a_payout_for_a_case_not_in_the_register_is_refused_without_retry(pool):
    with pytest.raises(ApplicationError) as refused:
        await PaymentLedger(pool).pay(order("2022-99999"))
    assert (refused.value.type, refused.value.non_retryable) == ("PayoutUnknownCase", True)
    assert await payout_rows(pool) == 0


async def test_list_payouts_of_one_case_or_all(pool):
    first, second = await register_cases(pool, 2)
    ledger = PaymentLedger(pool)
    await ledger.pay(order(first, 0))
    await ledger.pay(order(second, 0))
    await ledger.pay(order(first, 1))
    assert [(p.case_number, p.request_number) for p in await list_payouts(pool, first)] == [(first, 0), (first, 1)]
    assert len(await list_payouts(pool)) == 3
    assert await list_payouts(pool, "2022-99999") == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"request_number": 0}, "advance"),  # kind payment with request 0
        ({"kind": PayoutKind.ADVANCE}, "advance"),  # an advance with request 1
        ({"amount": Decimal("0.00")}, "amount"),
        ({"amount": Decimal("-5.00")}, "amount"),
        ({"amount": Decimal("1.005")}, "amount"),
        ({"request_number": -1}, "request_number"),
        ({"payee_bankgiro": "5050-1056"}, "payee_bankgiro"),
        ({"payee_name": ""}, "payee_name"),
        ({"payee_name": "Rad ett\nRad två"}, "payee_name"),
        ({"payee_name": "x" * 141}, "payee_name"),
        ({"case_number": "22-1"}, "case_number"),
    ],
)
def test_an_order_that_cannot_be_paid_is_refused_when_it_is_made(change, field):
    data = order().model_dump() | change
    with pytest.raises(ValidationError, match=field):
        PayoutOrder.model_validate(data)


def test_the_reference_is_the_case_number_unless_given():
    data = order().model_dump(exclude={"reference"})
    assert PayoutOrder.model_validate(data).reference == CASE
    assert PayoutOrder.model_validate(data | {"reference": "Beslut 2022-00001"}).reference == "Beslut 2022-00001"


@pytest.mark.parametrize(
    "model",
    [
        order(),
        PayoutReceipt(
            case_number=CASE,
            request_number=3,
            amount=Decimal("0.01"),
            paid_at=datetime(2022, 5, 1, 8, 0, tzinfo=UTC),
            first_time=False,
        ),
    ],
    ids=lambda m: type(m).__name__,
)
def test_round_trip_through_the_data_converter(model):
    converter = PLAIN.payload_converter
    [back] = converter.from_payloads(converter.to_payloads([model]), [type(model)])
    assert back == model


# --- bankgiro numbers -------------------------------------------------------------------

bodies = st.text(alphabet="0123456789", min_size=6, max_size=7)


def written(digits: str, hyphen: bool) -> str:
    return f"{digits[:-4]}-{digits[-4:]}" if hyphen else digits


@given(body=bodies, hyphen=st.booleans())
def test_a_number_with_the_right_check_digit_is_a_bankgiro(body, hyphen):
    digits = body + str(luhn_check_digit(body))
    assert is_bankgiro(written(digits, hyphen))
    assert normalize_bankgiro(written(digits, hyphen)) == digits
    assert format_bankgiro(digits) == written(digits, True)


@given(body=bodies, hyphen=st.booleans(), data=st.data())
def test_changing_any_one_digit_makes_it_no_bankgiro(body, hyphen, data):
    digits = body + str(luhn_check_digit(body))
    position = data.draw(st.integers(0, len(digits) - 1), label="position")
    other = data.draw(st.sampled_from([d for d in "0123456789" if d != digits[position]]), label="digit")
    changed = digits[:position] + other + digits[position + 1 :]
    assert not is_bankgiro(written(changed, hyphen))


@pytest.mark.parametrize("text", ["5050-1055", "50501055", "123-4566", " 991-2346 "])
def test_known_bankgiro_numbers(text):
    assert is_bankgiro(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "5050-1056",  # wrong check digit
        "505-01055",  # the hyphen stands before the last four digits
        "12-34566",  # too short
        "123456-7890",  # too long
        "5050 1055",
        "5050–1055",  # an en dash
        "５０５０-１０５５",  # full-width digits
        "SE5050-1055",
    ],
)
def test_what_is_not_a_bankgiro_number(text):
    assert not is_bankgiro(text)
    with pytest.raises(InvalidBankgiro):
        normalize_bankgiro(text)
