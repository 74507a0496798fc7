#!/bin/sh
# usage: fp-variant.sh NAME FLOOR RATIO_SHIFT : build /tmp/h1 with those churn constants, run bench:footprint (pymalloc), restore
cd /tmp/h1 || exit 1
sed -i "s/  FILL_FLOOR = [0-9]*,/  FILL_FLOOR = $2,/; s/  FILL_RATIO_SHIFT = [0-9]*,/  FILL_RATIO_SHIFT = $3,/" src/constants.ts
npm run build >/dev/null 2>&1 && node bench/footprint.mjs --only pymalloc --no-write > scratch/res/footprint-$1.txt 2>&1
git checkout -q src/constants.ts
