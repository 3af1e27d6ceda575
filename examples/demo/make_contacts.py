"""Writes the demo's contact list (deterministic): python make_contacts.py > contacts.csv"""

import csv
import random
import sys

rng = random.Random(2026)
first = ["Ann", "Bob", "Carla", "Dev", "Eve", "Farid", "Gia", "Hugo", "Ines", "Jon", "Kemi", "Luis"]
plans = ["basic", "plus", "pro"]
areas = ["212", "646", "718", "917", "312", "415", "617", "202"]
w = csv.writer(sys.stdout, lineterminator="\n")
w.writerow(
    [
        "contact_id",
        "phone_number",
        "name",
        "plan_name",
        "renewal_date",
        "phone_number_2",
        "name_2",
        "phone_number_3",
    ]
)
for i in range(1, 3001):
    area = areas[i % len(areas)]
    primary = f"({area}) 555-{i % 10000:04d}" if i % 3 else f"+1 {area} 555 {i % 10000:04d}"
    alt2 = f"+1{areas[(i + 3) % len(areas)]}555{(i + 5000) % 10000:04d}" if i % 2 else ""
    alt3 = f"+1{areas[(i + 5) % len(areas)]}556{i % 10000:04d}" if i % 5 == 0 else ""
    name = rng.choice(first)
    w.writerow(
        [
            f"cust-{i:05d}",
            primary,
            name,
            rng.choice(plans),
            f"2026-12-{1 + i % 28:02d}",
            alt2,
            f"{name}'s office" if alt2 else "",
            alt3,
        ]
    )
