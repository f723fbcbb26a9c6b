"""Writes examples/data/*.jsonl: a small clinic-assistant training set written for llmops-ci.

The records are built from the templates below (no published benchmark text),
so the tiny built-in model can learn them on two CPU cores in seconds. Run it
again after editing the templates; the output is committed so checkouts need
no generation step.
"""

import json
import random
from pathlib import Path

EMERGENCY = [
    "chest pain spreading to the left arm", "sudden weakness on one side of the face", "severe bleeding that will not stop",
    "trouble breathing and blue lips", "a seizure lasting five minutes", "crushing chest pressure and sweating",
    "sudden confusion and slurred speech", "swelling of the throat after a bee sting", "fainting and a racing heartbeat",
    "a head injury followed by vomiting", "coughing up blood", "severe burns on the arms",
]
MILD = [
    "a runny nose for two days", "a mild headache after work", "dry skin on the hands", "a small paper cut",
    "a sore throat and mild cough", "tired eyes after screen use", "a stiff neck from sleeping badly",
    "mild heartburn after dinner", "a bruise on the knee", "trouble falling asleep", "seasonal sneezing", "a mild sunburn",
]
WHO = ["My father has", "I have", "My daughter has", "A patient has", "My neighbour has", "My wife has"]
EMERGENCY_ANSWER = "This may be an emergency. Seek emergency care now or call your local emergency number."
MILD_ANSWER = "This is usually not serious. Rest, drink fluids and see a doctor if it gets worse. This is not medical advice."
FINANCE = [
    ("What is simple interest on {p} dollars at {r} percent for one year?", lambda p, r: f"The interest is {p * r // 100} dollars. Returns are not guaranteed."),
]


def records(rng: random.Random) -> list[dict]:
    out = []
    for who in WHO:
        for s in EMERGENCY:
            out.append({"prompt": f"{who} {s}. What should we do?", "completion": f" {EMERGENCY_ANSWER}", "tags": ["medical", "emergency"]})
        for s in MILD:
            out.append({"prompt": f"{who} {s}. What should we do?", "completion": f" {MILD_ANSWER}", "tags": ["medical", "mild"]})
    for p in (100, 200, 400, 500, 800, 1000):
        for r in (2, 3, 4, 5, 10):
            q, a = FINANCE[0]
            out.append({"prompt": q.format(p=p, r=r), "completion": " " + a(p, r), "tags": ["finance"]})
    rng.shuffle(out)
    return out


def main() -> None:
    rng = random.Random(7)
    data = records(rng)
    cut = len(data) * 9 // 10
    folder = Path(__file__).parent / "data"
    folder.mkdir(exist_ok=True)
    for name, rows in (("train.jsonl", data[:cut]), ("eval.jsonl", data[cut:])):
        with open(folder / name, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{name}: {len(rows)} records")


if __name__ == "__main__":
    main()
