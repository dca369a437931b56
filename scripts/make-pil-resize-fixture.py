#!/usr/bin/python3
"""Development only: writes fixtures/images/pil-bilinear.json, PIL's own results that
test/data/image-folder.test.ts compares src/data/image.ts against, bit for bit: bilinear
resize with antialiasing as Image.resize(size, BILINEAR), convert('L'), and the decoding of
JPEGs that PIL wrote (4:2:0, 4:4:4 and grayscale, odd sizes).

Needs Debian's python3 with python3-pil:  /usr/bin/python3 scripts/make-pil-resize-fixture.py
Tests never run Python; they read the JSON."""
import base64, io, json, os, PIL
from PIL import Image

def pixels(n, seed):
    out = bytearray(n)
    s = seed
    for i in range(n):
        s = (s * 1664525 + 1013904223) & 0xFFFFFFFF
        out[i] = (s >> 24) if i % 3 else (i * 13 >> 4) & 255
    return bytes(out)

CASES = [  # (width, height) -> (width, height): down, up, one axis each way, a non-integer factor
    ((37, 23), (25, 16)),
    ((64, 48), (20, 30)),
    ((17, 11), (34, 22)),
    ((40, 30), (13, 30)),
    ((50, 20), (50, 7)),
]
cases = []
for k, ((w, h), (ow, oh)) in enumerate(CASES):
    data = pixels(w * h * 3, k + 1)
    im = Image.frombytes('RGB', (w, h), data)
    cases.append({
        'width': w, 'height': h, 'outWidth': ow, 'outHeight': oh,
        'rgb': base64.b64encode(data).decode(),
        'resized': base64.b64encode(im.resize((ow, oh), Image.BILINEAR).tobytes()).decode(),
        'gray': base64.b64encode(im.convert('L').tobytes()).decode(),
    })
jpegs = []
for k, (w, h, mode, subsampling) in enumerate([(37, 23, 'RGB', 2), (40, 30, 'RGB', 0), (29, 17, 'L', 0)]):
    data = pixels(w * h * 3, 10 + k)
    im = Image.frombytes('RGB', (w, h), data).convert(mode)
    buf = io.BytesIO()
    im.save(buf, format='JPEG', quality=85, subsampling=subsampling)
    jpegs.append({
        'jpeg': base64.b64encode(buf.getvalue()).decode(),
        'width': w, 'height': h,
        'rgb': base64.b64encode(Image.open(io.BytesIO(buf.getvalue())).convert('RGB').tobytes()).decode(),
    })
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 'images', 'pil-bilinear.json')
with open(out, 'w') as f:
    json.dump({'generator': 'scripts/make-pil-resize-fixture.py', 'pil': PIL.__version__, 'cases': cases, 'jpegs': jpegs}, f, indent=1)
    f.write('\n')
print('wrote', out)
