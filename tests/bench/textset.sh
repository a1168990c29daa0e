#!/bin/sh
# textset.sh DIR -- a text-classification set from text this machine already
# has: every package's Debian description (apt-cache dumpavail, else
# /var/lib/dpkg/status), labelled by its Section (the component dropped),
# the sections of at least $G2T_TEXT_MIN packages (300) kept.  Features are
# the description's lower-case words and pairs of adjacent words, and the
# words of the package's name, hashed
# (FNV-1a) into 2^$G2T_TEXT_BITS (18) indices, each valued by its count.
# Writes DIR/text.train.svm and DIR/text.test.svm (a fifth of the
# packages, by a hash of the name), svmlight with the sections numbered
# (DIR/text.labels names them), and prints their sizes.
set -eu
dir=${1:?usage: textset.sh DIR}
mkdir -p "$dir"
if apt-cache dumpavail >"$dir/packages" 2>/dev/null && [ -s "$dir/packages" ]; then
	:
else
	cp /var/lib/dpkg/status "$dir/packages"
fi
python3 - "$dir" "${G2T_TEXT_MIN:-300}" "${G2T_TEXT_BITS:-18}" <<'PY'
import re, sys
from collections import Counter
d, least, bits = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def fnv(s):
    h = 2166136261
    for b in s.encode():
        h = ((h ^ b) * 16777619) & 0xffffffff
    return h

pkgs, cur, key = {}, {}, None
for line in open(d + '/packages', encoding='utf-8', errors='replace'):
    if line == '\n':
        if 'Package' in cur and 'Section' in cur and 'Description' in cur:
            pkgs.setdefault(cur['Package'], cur)
        cur, key = {}, None
    elif line[0] in ' \t' and key == 'Description':
        cur[key] += ' ' + line.strip()
    elif ':' in line:
        key, _, v = line.partition(':')
        cur[key] = v.strip()
sections = Counter(p['Section'].split('/')[-1] for p in pkgs.values())
keep = {s for s, n in sections.items() if n >= least}
mask = (1 << bits) - 1
# labels as numbers, as LIBSVM and LIBLINEAR read them; the names aside
number = {s: i + 1 for i, s in enumerate(sorted(keep))}
with open(d + '/text.labels', 'w') as f:
    f.writelines('%d %s\n' % (number[s], s) for s in sorted(keep))
out = {w: open('%s/text.%s.svm' % (d, w), 'w') for w in ('train', 'test')}
rows = Counter()
for name in sorted(pkgs):
    p = pkgs[name]
    label = p['Section'].split('/')[-1]
    if label not in keep:
        continue
    words = re.findall(r'[a-z0-9]+', p['Description'].lower())
    f = Counter(fnv(w) & mask for w in words)
    f.update(fnv(a + ' ' + b) & mask for a, b in zip(words, words[1:]))
    f.update(fnv('name ' + w) & mask for w in re.findall(r'[a-z0-9]+', name))
    part = 'test' if fnv(name) % 5 == 0 else 'train'
    out[part].write(str(number[label]) + ''.join(' %d:%d' % (j + 1, f[j]) for j in sorted(f)) + '\n')
    rows[part] += 1
print('textset: %d classes, %d train rows, %d test rows, %d hashed features' %
      (len(keep), rows['train'], rows['test'], 1 << bits))
PY
rm -f "$dir/packages"
