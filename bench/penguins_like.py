"""A penguins-shaped frame: 344 rows, 3 classes, NaNs and string categoricals (no installed package ships the real one).

    python bench/penguins_like.py      # writes bench/penguins_like.csv (deterministic)

The shape follows the Palmer penguins data (Adelie 152, Chinstrap 68, Gentoo 124; island and sex as strings; two rows
without measurements, eleven without sex); the values are drawn from per-species normal distributions near the real
means and standard deviations, so it is a stand-in of the same size and difficulty class, not the real data.
"""
from pathlib import Path

CSV = Path(__file__).with_name("penguins_like.csv")
SPECIES = {  # n, islands (counts), bill length, bill depth, flipper, mass (mean, sd)
    "Adelie": (152, {"Biscoe": 44, "Dream": 56, "Torgersen": 52}, (38.8, 2.7), (18.3, 1.2), (190.0, 6.5), (3700, 460)),
    "Chinstrap": (68, {"Dream": 68}, (48.8, 3.3), (18.4, 1.1), (195.8, 7.1), (3733, 384)),
    "Gentoo": (124, {"Biscoe": 124}, (47.5, 3.1), (15.0, 1.0), (217.2, 6.5), (5076, 504)),
}


def make(seed: int = 0):
    import numpy as np
    import pandas as pd
    rng = np.random.default_rng(seed)
    parts = []
    for sp, (n, islands, bl, bd, fl, bm) in SPECIES.items():
        sex = rng.choice(["male", "female"], n)
        big = np.where(sex == "male", 1.0, -1.0)
        parts.append(pd.DataFrame({
            "species": sp, "island": np.repeat(list(islands), list(islands.values())),
            "bill_length_mm": np.round(rng.normal(bl[0], bl[1], n) + 1.2 * big, 1),
            "bill_depth_mm": np.round(rng.normal(bd[0], bd[1], n) + 0.6 * big, 1),
            "flipper_length_mm": np.round(rng.normal(fl[0], fl[1], n) + 2.5 * big),
            "body_mass_g": np.round(rng.normal(bm[0], bm[1], n) + 250 * big, -1), "sex": sex}))
    df = pd.concat(parts, ignore_index=True).sample(frac=1, random_state=seed).reset_index(drop=True)
    num = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    df.loc[df.index[:2], num + ["sex"]] = np.nan
    df.loc[df.index[2:11], "sex"] = np.nan
    return df


if __name__ == "__main__":
    make().to_csv(CSV, index=False)
    print(f"wrote {CSV}")
