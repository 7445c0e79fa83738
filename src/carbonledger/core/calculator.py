"""Emissions = activity x factor, with a trace that recomputes to the same value.

The arithmetic, identical in :func:`calculate` and :func:`recompute`::

    multiplier = c_activity x factor_value x c_mass          (context of 50 digits)
    kg         = round(amount x multiplier, 0.000001 kg, ROUND_HALF_EVEN)

``c_activity`` converts the bill's unit to the factor's activity unit and
``c_mass`` the factor's mass unit to kg; both are exact constants from
:mod:`carbonledger.core.units` and are written into the trace.  Renewable and
non-renewable kWh (electricity) follow the same pattern with
``c_kwh x pct / 100`` and a 0.000001 kWh quantum.

Speed: a resolution is made once per site and year and used for many bills,
so everything that does not depend on the amount (multipliers, the factor's
dict, steps, conversions) is built once per (resolution, unit) and shared by
every trace made from it.  Traces are therefore read-only: copy before editing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from typing import Any

from carbonledger.core.canonical import canonical
from carbonledger.core.domain import CAP_UNITS, MAX_AMOUNT, check_quantity
from carbonledger.core.factor_values import EmissionFactor, Resolution
from carbonledger.core.units import dimension, factor_between, normalise_unit
from carbonledger.errors import FactorNotFound, InvalidInput

__all__ = [
    "CONTEXT_DIGITS",
    "DEFAULT_GWP",
    "GWP_SETS",
    "QUANTUM",
    "TRACE_SCHEMA",
    "CalculationPlan",
    "CalculationResult",
    "basis_id",
    "calculate",
    "co2e_from_gases",
    "gwp_weights",
    "merge_trace",
    "plan_for",
    "recompute",
    "result_texts",
    "results",
]

TRACE_SCHEMA = "carbonledger.calculation/1"
#: Significant digits of every intermediate product.
CONTEXT_DIGITS = 50
#: Results are rounded to this quantum (kg for masses, kWh for energy), half-even.
QUANTUM = Decimal("0.000001")
_CTX = Context(prec=CONTEXT_DIGITS, rounding=ROUND_HALF_EVEN)
_HUNDRED = Decimal(100)
# Beyond this the quantised result would not fit the context; no bill is this large.
_MAX_AMOUNT = Decimal(10) ** 30
_FORMULA = (
    "kg = round(amount * (c_activity * factor_value * c_mass), 0.000001, ROUND_HALF_EVEN); "
    "renewable_kwh = round(amount * (c_kwh * renewable_pct / 100), 0.000001, ROUND_HALF_EVEN)"
)


#: 100-year global warming potentials of CH4 and N2O by IPCC assessment report.
#: AR5 is what the EPA Hub (2024 on) and the US inventory use; AR6 uses the fossil
#: CH4 value (29.8) because the fuels here are fossil; AR4 is what older inventories used.
GWP_SETS: dict[str, dict[str, Decimal]] = {
    "AR4": {"co2": Decimal(1), "ch4": Decimal(25), "n2o": Decimal(298)},
    "AR5": {"co2": Decimal(1), "ch4": Decimal(28), "n2o": Decimal(265)},
    "AR6": {"co2": Decimal(1), "ch4": Decimal("29.8"), "n2o": Decimal(273)},
}
DEFAULT_GWP = "AR5"


def gwp_weights(gwp: str) -> dict[str, Decimal]:
    """The CO2, CH4 and N2O weights of the GWP set named ``gwp`` (any case); unknown: an error."""
    weights = GWP_SETS.get(gwp.strip().upper())
    if weights is None:
        raise InvalidInput(f"unknown GWP set {gwp!r}; known: {', '.join(GWP_SETS)}")
    return weights


def co2e_from_gases(
    gases: dict[str, EmissionFactor], gwp: str = DEFAULT_GWP
) -> tuple[EmissionFactor, str]:
    """Combine per-gas factors of one activity unit into one CO2e factor.

    ``gases`` maps ``co2``/``ch4``/``n2o`` to factors with the same activity unit
    (masses may differ: the EPA Hub gives CO2 in kg, CH4 and N2O in g).  Returns
    the CO2e factor (in kg, its ``basis`` naming the GWP set and the terms, so the
    trace shows them) and a sentence for the resolution steps.  Exact in Decimal.
    """
    weights = gwp_weights(gwp)
    if "co2" not in gases:
        raise FactorNotFound("a CO2e factor needs at least the CO2 factor")
    base = gases["co2"]
    total = Decimal(0)
    terms: list[str] = []
    for gas in ("co2", "ch4", "n2o"):
        f = gases.get(gas)
        if f is None:
            continue
        if f.activity_unit != base.activity_unit:
            raise InvalidInput(f"{gas} factor per {f.activity_unit}, CO2 per {base.activity_unit}")
        kg = _CTX.multiply(f.value, factor_between(f.mass_unit, "kg"))
        total = _CTX.add(total, _CTX.multiply(kg, weights[gas]))
        weight = "" if gas == "co2" else f" x {weights[gas]}"
        terms.append(f"{f.value} {f.mass_unit} {gas.upper()}{weight}")
    missing = [g.upper() for g in ("ch4", "n2o") if g not in gases]
    note = f"; {', '.join(missing)} not published" if missing else ""
    basis = f"{gwp.upper()} GWP: {' + '.join(terms)} per {base.activity_unit}{note}"
    combined = EmissionFactor(
        dataset=base.dataset,
        edition=base.edition,
        revision=base.revision,
        data_year=base.data_year,
        region_level=base.region_level,
        region_key=base.region_key,
        region_name=base.region_name,
        activity=base.activity,
        basis=basis,
        gas="co2e",
        value=total.normalize(_CTX) if total == total.to_integral_value() else total,
        unit=f"kg/{base.activity_unit}",
        source=base.source,
    )
    return combined, f"CO2e = {basis} = {combined.value} kg/{base.activity_unit}"


@dataclass(frozen=True, slots=True)
class CalculationResult:
    """Emissions of one activity amount, with its full trace.

    ``scope`` is ``"1"`` (fuel burnt on site) or ``"2-location"`` (purchased
    electricity, location-based).  ``trace`` is JSON-able (strings, ints, None):
    inputs, factor provenance, resolution steps, conversions, formula, results.
    """

    kg_co2e: Decimal
    kg_co2: Decimal | None
    renewable_kwh: Decimal | None
    nonrenewable_kwh: Decimal | None
    scope: str
    #: What depends on the amount: schema, basis id, inputs, scope, results.
    record_trace: dict[str, Any]
    #: What does not: factor provenance, resolution steps, conversions, formula.
    #: Shared by every result of the same resolution and unit; do not modify.
    basis: dict[str, Any]
    #: SHA-256 (hex) of the canonical JSON of ``basis``: the record's link to it.
    basis_id: str

    @property
    def trace(self) -> dict[str, Any]:
        """The full trace: basis and record trace merged (recomputes on its own)."""
        return merge_trace(self.record_trace, self.basis)


@dataclass(frozen=True, slots=True)
class CalculationPlan:
    """What a calculation under one resolution and unit does not take from the amount:
    the multipliers, the calculation basis and its id, the scope. Built once per
    (resolution, unit) by :func:`plan_for` and shared; ``basis`` is read-only."""

    unit: str
    k_co2e: Decimal
    k_co2: Decimal | None
    k_ren: Decimal | None
    k_nonren: Decimal | None
    #: Factor provenance, resolution steps, conversions, formula, precision.
    basis: dict[str, Any]
    scope: str
    #: SHA-256 (hex) of the canonical JSON of ``basis``.
    basis_id: str
    #: one ``unit`` in the unit the amount cap is stated in (kWh, m3, kg, km)
    cap: Decimal = Decimal(1)


def _multiplier(c_activity: Decimal, value: Decimal, c_mass: Decimal) -> Decimal:
    return _CTX.multiply(_CTX.multiply(c_activity, value), c_mass)


def _share(c_kwh: Decimal, pct: Decimal) -> Decimal:
    return _CTX.divide(_CTX.multiply(c_kwh, pct), _HUNDRED)


def _pick(resolution: Resolution, unit: str) -> tuple[EmissionFactor, EmissionFactor | None]:
    dim = dimension(unit)
    for co2e, co2 in ((resolution.co2e, resolution.co2), *resolution.variants):
        if dimension(co2e.activity_unit) == dim:
            return co2e, co2
    offered = sorted({f.activity_unit for f, _ in ((resolution.co2e, None), *resolution.variants)})
    raise FactorNotFound(
        f"no {resolution.activity} factor for a {dim} unit ({unit}) in "
        f"{resolution.co2e.edition}; it gives factors per {', '.join(offered)}"
    )


def _build_plan(resolution: Resolution, raw_unit: str) -> CalculationPlan:
    unit = normalise_unit(raw_unit)
    co2e, co2 = _pick(resolution, unit)
    conversions: list[dict[str, str]] = []

    def term(gas: str, factor: EmissionFactor) -> Decimal:
        c_act = factor_between(unit, factor.activity_unit)
        c_mass = factor_between(factor.mass_unit, "kg")
        conversions.append(
            {
                "for": gas,
                "quantity": "activity",
                "from": unit,
                "to": factor.activity_unit,
                "constant": str(c_act),
            }
        )
        conversions.append(
            {
                "for": gas,
                "quantity": "mass",
                "from": factor.mass_unit,
                "to": "kg",
                "constant": str(c_mass),
            }
        )
        return _multiplier(c_act, factor.value, c_mass)

    k_co2e = term("co2e", co2e)
    k_co2 = None if co2 is None else term("co2", co2)
    k_ren = k_nonren = None
    mix: dict[str, str] | None = None
    if (
        resolution.activity == "electricity"
        and co2e.renewable_pct is not None
        and dimension(unit) == "energy"
    ):
        c_kwh = factor_between(unit, "kWh")
        conversions.append(
            {
                "for": "kwh",
                "quantity": "activity",
                "from": unit,
                "to": "kWh",
                "constant": str(c_kwh),
            }
        )
        k_ren = _share(c_kwh, co2e.renewable_pct)
        mix = {"renewable_pct": str(co2e.renewable_pct)}
        if co2e.nonrenewable_pct is not None:
            k_nonren = _share(c_kwh, co2e.nonrenewable_pct)
            mix["nonrenewable_pct"] = str(co2e.nonrenewable_pct)
    static = {
        "factor": co2e.to_dict(),
        "factor_co2": None if co2 is None else co2.to_dict(),
        "co2e_is_co2_proxy": resolution.co2e_is_co2_proxy,
        "resolution": {
            "activity": resolution.activity,
            "level": resolution.level,
            "location": resolution.location.to_dict(),
            "steps": list(resolution.steps),
            "alternatives": list(resolution.alternatives),
        },
        "conversions": conversions,
        "fuel_mix": mix,
        "formula": _FORMULA,
        "precision": {
            "context_digits": CONTEXT_DIGITS,
            "quantum": str(QUANTUM),
            "rounding": "ROUND_HALF_EVEN",
        },
    }
    return CalculationPlan(
        unit,
        k_co2e,
        k_co2,
        k_ren,
        k_nonren,
        static,
        resolution.scope,
        basis_id(static),
        factor_between(unit, CAP_UNITS[dimension(unit)]),
    )


def _round(amount: Decimal, k: Decimal) -> Decimal:
    return _CTX.multiply(amount, k).quantize(QUANTUM, context=_CTX)


def plan_for(resolution: Resolution, unit: str) -> CalculationPlan:
    """The plan of calculations of amounts in ``unit`` under ``resolution`` (made once).

    Raises :class:`UnknownUnit` for an unknown unit and :class:`FactorNotFound`
    when the resolution has no factor for the unit's dimension.
    """
    plan: CalculationPlan | None = resolution._plans.get(unit)
    if plan is None:
        plan = resolution._plans[unit] = _build_plan(resolution, unit)
    return plan


def results(
    amount: Decimal, plan: CalculationPlan
) -> tuple[Decimal, Decimal | None, Decimal | None, Decimal | None]:
    """kg CO2e, kg CO2, renewable and non-renewable kWh of ``amount`` under ``plan``
    (None where the plan has no factor), each rounded to :data:`QUANTUM`: the
    arithmetic of :func:`calculate`, without its trace (for imports, which seal the
    results and name the basis).

    Raises :class:`InvalidInput` for a non-Decimal, non-finite, negative or absurdly
    large amount.
    """
    if type(amount) is not Decimal and not isinstance(amount, Decimal):
        raise InvalidInput(f"amount must be a Decimal, got {type(amount).__name__}")
    if not amount.is_finite() or abs(amount) >= _MAX_AMOUNT:
        raise InvalidInput(f"amount must be finite and below 1e30, got {amount}")
    if amount < 0:
        # An activity is never negative; credits (certificates, offsets) are their
        # own explicit transactions, so a negative amount here is a mistake.
        raise InvalidInput(f"amount must not be negative, got {amount}")
    if abs(amount) * plan.cap >= MAX_AMOUNT:  # the cap applies after conversion
        check_quantity(amount, plan.unit)  # raises, naming the amount and the cap
    # Written out rather than in a loop or helper: this runs for every bill imported.
    multiply, ctx = _CTX.multiply, _CTX
    k_co2, k_ren, k_nonren = plan.k_co2, plan.k_ren, plan.k_nonren
    try:
        return (
            multiply(amount, plan.k_co2e).quantize(QUANTUM, context=ctx),
            None if k_co2 is None else multiply(amount, k_co2).quantize(QUANTUM, context=ctx),
            None if k_ren is None else multiply(amount, k_ren).quantize(QUANTUM, context=ctx),
            None if k_nonren is None else multiply(amount, k_nonren).quantize(QUANTUM, context=ctx),
        )
    except InvalidOperation as exc:  # pragma: no cover - guarded by _MAX_AMOUNT
        raise InvalidInput(f"amount {amount} cannot be calculated: {exc}") from exc


def result_texts(
    figures: tuple[Decimal, Decimal | None, Decimal | None, Decimal | None],
) -> dict[str, str | None]:
    """The ``results`` of a trace: :func:`results`' figures as decimal text."""
    kg_co2e, kg_co2, ren, nonren = figures
    return {
        "kg_co2e": str(kg_co2e),
        "kg_co2": None if kg_co2 is None else str(kg_co2),
        "renewable_kwh": None if ren is None else str(ren),
        "nonrenewable_kwh": None if nonren is None else str(nonren),
    }


def calculate(amount: Decimal, unit: str, resolution: Resolution) -> CalculationResult:
    """Return the emissions of ``amount`` ``unit`` under ``resolution``.

    Raises :class:`InvalidInput` for a non-Decimal, non-finite or absurdly large
    amount, :class:`UnknownUnit` for an unknown unit and :class:`FactorNotFound`
    when the resolution has no factor for the unit's dimension.
    """
    plan = plan_for(resolution, unit)
    figures = results(amount, plan)
    trace = {
        "schema": TRACE_SCHEMA,
        "basis": plan.basis_id,
        "inputs": {"amount": str(amount), "unit": plan.unit},
        "scope": plan.scope,
        "results": result_texts(figures),
    }
    return CalculationResult(*figures, plan.scope, trace, plan.basis, plan.basis_id)


def basis_id(basis: dict[str, Any]) -> str:
    """Content address of a calculation basis: SHA-256 of its canonical JSON."""
    return hashlib.sha256(canonical(basis)).hexdigest()


def merge_trace(record_trace: dict[str, Any], basis: dict[str, Any]) -> dict[str, Any]:
    """A full trace from a record's trace and its basis, after checking they belong together."""
    if record_trace.get("basis") != basis_id(basis):
        raise InvalidInput(
            f"calculation basis {basis_id(basis)[:16]}... is not the one the trace names"
            f" ({str(record_trace.get('basis'))[:16]}...)"
        )
    return {**basis, **record_trace}


def _constant(trace: dict[str, Any], gas: str, quantity: str) -> Decimal:
    for conv in trace["conversions"]:
        if conv["for"] == gas and conv["quantity"] == quantity:
            return Decimal(conv["constant"])
    raise InvalidInput(f"trace has no {quantity} conversion for {gas}")


def recompute(
    trace: dict[str, Any], basis: dict[str, Any] | None = None
) -> dict[str, Decimal | None]:
    """Recompute a calculation's results from its trace alone.

    ``trace`` is a full trace, or a record's trace with the ``basis`` it names
    (checked by its SHA-256).

    Uses only the trace's amount, factor values, recorded conversion constants
    and fuel-mix shares, with the same arithmetic as :func:`calculate`; the
    result equals ``trace["results"]`` (as Decimals) for an untampered trace.
    """
    if basis is not None:
        trace = merge_trace(trace, basis)
    try:
        if trace.get("schema") != TRACE_SCHEMA:
            raise InvalidInput(f"not a calculation trace of schema {TRACE_SCHEMA}")
        amount = Decimal(trace["inputs"]["amount"])
        out: dict[str, Decimal | None] = {
            "kg_co2e": None,
            "kg_co2": None,
            "renewable_kwh": None,
            "nonrenewable_kwh": None,
        }
        for gas, key, result in (("co2e", "factor", "kg_co2e"), ("co2", "factor_co2", "kg_co2")):
            factor = trace[key]
            if factor is None:
                continue
            k = _multiplier(
                _constant(trace, gas, "activity"),
                Decimal(factor["value"]),
                _constant(trace, gas, "mass"),
            )
            out[result] = _round(amount, k)
        mix = trace.get("fuel_mix")
        if mix:
            c_kwh = _constant(trace, "kwh", "activity")
            out["renewable_kwh"] = _round(amount, _share(c_kwh, Decimal(mix["renewable_pct"])))
            if "nonrenewable_pct" in mix:
                out["nonrenewable_kwh"] = _round(
                    amount, _share(c_kwh, Decimal(mix["nonrenewable_pct"]))
                )
    except (KeyError, TypeError, InvalidOperation) as exc:
        raise InvalidInput(f"malformed calculation trace: {exc!r}") from exc
    return out
