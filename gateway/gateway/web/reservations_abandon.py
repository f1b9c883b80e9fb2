"""Giving up a cart awaiting payment ("Abandonner ce paiement"), from the payment step.

    /reservations/panier/abandonner     GET: what giving up does, in words, and the confirming
                                        button; POST (CSRF): booking releases the held places,
                                        then back to the cart with a message

Booking decides (only the parent's own cart; a second click finds it released already); the
dates come back to the cart, to validate again later.
"""
from __future__ import annotations

from flask import flash, redirect, render_template, url_for

from gateway import auth, clients
from gateway.clients import ServiceError
from gateway.web import reservations
from gateway.web import reservations_view as view
from gateway.web.reservations import PAGE_STATUSES, _cart, bp, cart_payment_url

NOTHING_AWAITED = "Votre panier n'attend aucun paiement : il n'y a rien à abandonner."
ABANDONED = "Paiement abandonné."  # the cart page says what follows (places freed, dates back)


@bp.get("/panier/abandonner")
@auth.login_required
def abandon_confirm():
    cart = _cart()
    if cart.get("state") != "awaiting_payment":
        flash(NOTHING_AWAITED, "info")
        return redirect(url_for("reservations.cart"))
    today = reservations.today()
    held = [line for line in cart.get("lines") or [] if line.get("outcome") == "held"]
    return render_template("reservations/abandonner.html", cart=cart, groups=view.grouped_lines(held, today),
                           count=len(held), payment_url=cart_payment_url(cart),
                           hold_until=view.until_moment(cart.get("hold_expires_at"), today))


@bp.post("/panier/abandonner")
@auth.login_required
def abandon():
    try:
        clients.booking().post("/internal/parent/cart/abandon")
    except ServiceError as exc:
        if exc.status not in PAGE_STATUSES:
            raise
        flash(exc.detail, "error")
        return redirect(url_for("reservations.cart"))
    flash(ABANDONED, "success")
    return redirect(url_for("reservations.cart"))
