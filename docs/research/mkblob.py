import struct, sys, sqlite3
def read_hdr(b, off):
    assert b[off:off+3] == b'\x8e\xad\xe8'
    il, dl = struct.unpack('>II', b[off+8:off+16])
    start = off+8
    end = off+16+il*16+dl
    return b[start:end], end
def entries(h):
    il, dl = struct.unpack('>II', h[:8])
    ents = [struct.unpack('>iiii', h[8+16*i:24+16*i]) for i in range(il)]
    data = h[8+16*il:]
    return il, dl, ents, data
TS = {0:0,1:1,2:1,3:2,4:4,5:8,6:-1,7:1,8:-1,9:-1}
def dlen(t, cnt, data, off):
    if t in (6,8,9):
        p = off
        for _ in range(cnt): p = data.index(b'\0', p)+1
        return p-off
    return TS[t]*cnt
pkg = open(sys.argv[1],'rb').read()
sig, e = read_hdr(pkg, 96)
e += (8 - e % 8) % 8
main, _ = read_hdr(pkg, e)
sil, sdl, sents, sdata = entries(sig)
sigtags = {t:(ty,c,sdata[o:o+dlen(ty,c,sdata,o)]) for (t,ty,o,c) in sents}
xl = [(1000,257),(1002,259),(1004,261),(1005,262),(1007,1046),(274,5090),(275,5091),(276,276),(277,277),(269,269),(273,273),(267,267),(268,268),(270,270),(271,271)]
il, dl, ents, data = entries(main)
mtags = {t:(ty,c,data[o:o+dlen(ty,c,data,o)]) for (t,ty,o,c) in ents}
added = {}
for s,x in xl:
    if s in sigtags: added[x] = sigtags[s]
tid, itime, color = [int(a) for a in sys.argv[2:5]]
nfiles = mtags[1117][1] if 1117 in mtags else 0
if nfiles: added[1029] = (1, nfiles, b'\0'*nfiles)
added[1128] = (4,1,struct.pack('>I',tid)); added[1008]=(4,1,struct.pack('>I',itime)); added[1127]=(4,1,struct.pack('>I',color))
if 1098 in mtags and nfiles: added[1099] = (8, mtags[1098][1], mtags[1098][2])
idx = b''.join(main[8:8+16*il][i*16:(i+1)*16] for i in range(il))
d = bytearray(data)
newidx = b''
for tag in sorted(added):
    ty,c,payload = added[tag]
    a = TS[ty] if TS[ty] > 1 else 1
    while len(d) % a: d.append(0)
    newidx += struct.pack('>iiii', tag, ty, len(d), c)
    d += payload
blob = struct.pack('>II', il+len(added), len(d)) + idx + newidx + bytes(d)
dbblob = sqlite3.connect(sys.argv[5]).execute("select blob from Packages where hnum=?", (int(sys.argv[6]),)).fetchone()[0]
print("identical:", blob == dbblob, len(blob), len(dbblob), "added:", sorted(added))
