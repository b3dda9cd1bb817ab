import sqlite3, sys, os
src, dst, mode = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(os.path.dirname(dst), exist_ok=True)
s = sqlite3.connect(src); d = sqlite3.connect(dst)
d.execute("PRAGMA journal_mode = %s" % mode)
tabs = ["Name","Basenames","Group","Requirename","Providename","Conflictname","Obsoletename","Triggername","Dirnames","Installtid","Sigmd5","Sha1header","Filetriggername","Transfiletriggername","Recommendname","Suggestname","Supplementname","Enhancename"]
strc = {t: t not in ("Installtid","Sigmd5") for t in tabs}
arr = {t: t not in ("Name","Group","Installtid","Sigmd5","Sha1header") for t in tabs}
d.execute("CREATE TABLE IF NOT EXISTS 'Packages' (hnum INTEGER PRIMARY KEY AUTOINCREMENT,blob BLOB NOT NULL)")
for t in tabs:
    d.execute("CREATE TABLE IF NOT EXISTS '%s' (key '%s' NOT NULL, hnum INTEGER NOT NULL, idx INTEGER NOT NULL, FOREIGN KEY (hnum) REFERENCES 'Packages'(hnum))" % (t, "TEXT" if strc[t] else "BLOB"))
    if strc[t]: d.execute("CREATE INDEX IF NOT EXISTS '%s_key_idx' ON '%s'(key ASC)" % (t,t))
    if arr[t]: d.execute("CREATE INDEX IF NOT EXISTS '%s_hnum_idx' ON '%s'(hnum ASC)" % (t,t))
for h,b in s.execute("select hnum, blob from Packages order by hnum"):
    d.execute("INSERT OR REPLACE INTO 'Packages' VALUES(?, ?)", (None, b))
for t in tabs:
    for row in s.execute("select key,hnum,idx from '%s' order by rowid" % t):
        d.execute("INSERT INTO '%s' VALUES(?, ?, ?)" % t, row)
d.commit(); d.close()
