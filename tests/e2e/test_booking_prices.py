"""Issue 8 on the real platform: a bookable date of the parents' calendar shows its deadline and
the family's price, priced by billing (the demo grid CANTINE-REPAS, the demo family's QF 820:
3,90 €), never the price reference."""
from __future__ import annotations

import datetime as dt

DEMO_PARENT = ("parent.demo@example.org", "Demo-Famille-2026")
HUGO = "00000000-0000-4000-8000-00000000c002"  # enrolled at the canteen without fixed days: dates to book
CANTEEN_PRICE = "3,90 €"


def test_bookable_canteen_dates_show_the_familys_price(platform, page, a11y, identity_login):
    page.goto(f"{platform.base_url}/auth/login?next=/reservations")
    identity_login(page, *DEMO_PARENT)
    page.wait_for_url("**/reservations")
    action = page.locator("li.card").filter(has=page.get_by_role(
        "heading", name="Restauration scolaire", exact=True)).locator("form").get_attribute("action")
    service_url = "/reservations/services/" + action.rstrip("/").rsplit("/", 1)[1]
    month = dt.date.today().replace(day=1)
    for _ in range(3):
        page.goto(f"{platform.base_url}{service_url}?mois={month:%Y-%m}&enfant={HUGO}")
        # by its words, not its checkbox: a cart held for payment (an earlier journey's) hides the boxes
        bookable = page.locator("li.reservations-day", has_text="Réservable jusqu'")
        if bookable.count():
            break
        month = (month + dt.timedelta(days=32)).replace(day=1)
    else:
        raise AssertionError("a bookable canteen date within three months")
    cell = bookable.first.inner_text()
    assert "Réservable jusqu'" in cell and CANTEEN_PRICE in cell, cell
    main = page.locator("main").inner_text()
    assert f"{CANTEEN_PRICE} la séance" in main and "CANTINE-REPAS" not in main
    a11y(page)
