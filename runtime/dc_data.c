/* Datasets: IDX files ((Fashion-)MNIST, gzip or raw, loaded once) and folders
 * of JPEG/PNG images (decoded on each get). See dc_data.h for the rules. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <zlib.h>

#include "dc_data.h"

/* Images above this many pixels are skipped: a header claiming 60000×60000
 * is a broken file, not a training image. */
#define MAX_PIXELS ((int64_t)1 << 28)
#define MAX_DEPTH 32 /* folder nesting (and symlink loops) */

typedef enum { DS_IDX, DS_FOLDER } ds_kind;

struct dc_dataset {
    ds_kind kind;
    int64_t n;
    int channels, classes;
    int64_t skipped;
    /* IDX */
    int h, w;
    uint8_t *pixels; /* [n, h, w] */
    uint8_t *idx_labels;
    /* folder */
    char **paths;
    int *labels;
    _Atomic uint8_t *failed;    /* per file: a later decode failed */
    _Atomic int64_t late_failures;
};

/* ---- small helpers --------------------------------------------------------------------- */

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static char *join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 2);
    if (!s)
        return NULL;
    memcpy(s, a, la);
    size_t k = la;
    if (la && a[la - 1] != '/')
        s[k++] = '/';
    memcpy(s + k, b, lb + 1);
    return s;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted entry names of a folder (dot-files left out). */
static dc_status list_dir(const char *path, char ***names, size_t *count)
{
    DIR *d = opendir(path);
    if (!d)
        return dc_error(DC_ERR_IO, "%s: cannot open folder: %s", path, strerror(errno));
    char **v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nv = realloc(v, cap * sizeof *v);
            if (!nv)
                goto nomem;
            v = nv;
        }
        if (!(v[n] = strdup(e->d_name)))
            goto nomem;
        n++;
    }
    closedir(d);
    if (n)
        qsort(v, n, sizeof *v, cmp_str);
    *names = v;
    *count = n;
    return DC_OK;
nomem:
    closedir(d);
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
    return dc_error(DC_ERR_NOMEM, "%s: out of memory listing the folder", path);
}

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- IDX ------------------------------------------------------------------------------- */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads `len` bytes; returns how many arrived (short at the end of the data),
 * or -1 on a zlib error (message in *err). */
static int64_t gz_read_all(gzFile g, uint8_t *buf, int64_t len, const char **err)
{
    int64_t got = 0;
    while (got < len) {
        int64_t chunk = len - got > (1 << 30) ? (1 << 30) : len - got;
        int r = gzread(g, buf + got, (unsigned)chunk);
        if (r < 0) {
            int code;
            *err = gzerror(g, &code);
            return -1;
        }
        if (r == 0)
            break;
        got += r;
    }
    /* zlib reports a truncated stream only as an error state after the read. */
    int code;
    const char *m = gzerror(g, &code);
    if (code != Z_OK && code != Z_BUF_ERROR) {
        *err = m;
        return -1;
    }
    if (got < len && code == Z_BUF_ERROR) {
        *err = m;
        return -1;
    }
    return got;
}

/* One IDX file of unsigned bytes with `ndim` dims: dims[] and its payload. */
static dc_status read_idx(const char *path, int ndim, int64_t *dims, uint8_t **data)
{
    *data = NULL;
    gzFile g = gzopen(path, "rb");
    if (!g)
        return dc_error(DC_ERR_IO, "%s: cannot open: %s", path,
                        errno ? strerror(errno) : "out of memory");
    const char *zerr = NULL;
    uint8_t head[16];
    int64_t want = 4 + 4 * (int64_t)ndim;
    int64_t got = gz_read_all(g, head, want, &zerr);
    dc_status st = DC_OK;
    if (got < 0) {
        st = dc_error(DC_ERR_PARSE, "%s: corrupt gzip stream: %s", path, zerr);
        goto done;
    }
    if (got < want) {
        st = dc_error(DC_ERR_PARSE, "%s: truncated IDX header (%lld of %lld bytes)", path,
                      (long long)got, (long long)want);
        goto done;
    }
    uint32_t magic = be32(head), expect = 0x800u | (uint32_t)ndim;
    if (magic != expect) {
        st = dc_error(DC_ERR_PARSE,
                      "%s: bad IDX magic 0x%08x (expected 0x%08x: unsigned bytes, %d dim%s)",
                      path, magic, expect, ndim, ndim > 1 ? "s" : "");
        goto done;
    }
    int64_t total = 1;
    for (int i = 0; i < ndim; i++) {
        uint32_t d = be32(head + 4 + 4 * i);
        if (d == 0 || d > (uint32_t)INT32_MAX) {
            st = dc_error(DC_ERR_PARSE, "%s: IDX dimension %d is %u", path, i, d);
            goto done;
        }
        dims[i] = d;
        if (total > (int64_t)(DC_TENSOR_MAX_BYTES / d)) {
            st = dc_error(DC_ERR_NOMEM, "%s: IDX dimensions claim more than %llu bytes", path,
                          (unsigned long long)DC_TENSOR_MAX_BYTES);
            goto done;
        }
        total *= d;
    }
    /* The buffer grows with the bytes that arrive: a header may promise 2 GiB
     * in a file of 16 bytes, and only what is there is paid for. */
    uint8_t *buf = NULL;
    int64_t cap = 0;
    got = 0;
    while (got < total) {
        if (got == cap) {
            cap = cap ? (cap > total / 2 ? total : 2 * cap) : (total < (1 << 16) ? total : (1 << 16));
            uint8_t *grown = realloc(buf, (size_t)cap);
            if (!grown) {
                free(buf);
                st = dc_error(DC_ERR_NOMEM, "%s: cannot allocate %lld bytes", path, (long long)cap);
                goto done;
            }
            buf = grown;
        }
        int64_t n = gz_read_all(g, buf + got, cap - got, &zerr);
        if (n < 0) {
            free(buf);
            st = dc_error(DC_ERR_PARSE, "%s: corrupt gzip stream: %s", path, zerr);
            goto done;
        }
        got += n;
        if (got < cap) {
            free(buf);
            st = dc_error(DC_ERR_PARSE,
                          "%s: truncated: the header promises %lld data bytes, the file holds %lld",
                          path, (long long)total, (long long)got);
            goto done;
        }
    }
    uint8_t extra;
    int64_t more = gz_read_all(g, &extra, 1, &zerr);
    if (more != 0) {
        free(buf);
        st = more < 0 ? dc_error(DC_ERR_PARSE, "%s: corrupt gzip stream: %s", path, zerr)
                      : dc_error(DC_ERR_PARSE,
                                 "%s: trailing bytes after the %lld data bytes the header "
                                 "promises",
                                 path, (long long)total);
        goto done;
    }
    *data = buf;
done:
    gzclose(g);
    return st;
}

/* The first existing file among the usual spellings of <prefix>-<kind>
 * (kind "images-idx3" or "labels-idx1"): with or without .gz, and the
 * "train-images.idx3-ubyte" form of some mirrors. */
static char *find_idx_file(const char *dir, const char *prefix, const char *kind)
{
    char dotted[32], name[128];
    snprintf(dotted, sizeof dotted, "%s", kind);
    char *dash = strchr(dotted, '-');
    if (dash)
        *dash = '.';
    const char *kinds[2] = {kind, dotted};
    for (int k = 0; k < 2; k++)
        for (int gz = 1; gz >= 0; gz--) {
            snprintf(name, sizeof name, "%s-%s-ubyte%s", prefix, kinds[k], gz ? ".gz" : "");
            char *p = join(dir, name);
            if (!p)
                return NULL;
            if (is_file(p))
                return p;
            free(p);
        }
    return NULL;
}

static dc_status open_idx_files(const char *images, const char *labels, dc_dataset *ds)
{
    int64_t idims[3], ldims[3];
    DC_TRY(read_idx(images, 3, idims, &ds->pixels));
    dc_status st = read_idx(labels, 1, ldims, &ds->idx_labels);
    if (st != DC_OK)
        return st;
    if (ldims[0] != idims[0])
        return dc_error(DC_ERR_INVALID, "%s: %lld labels, but %s holds %lld images", labels,
                        (long long)ldims[0], images, (long long)idims[0]);
    if (idims[1] > 65536 || idims[2] > 65536)
        return dc_error(DC_ERR_INVALID, "%s: images of %lldx%lld pixels", images,
                        (long long)idims[1], (long long)idims[2]);
    ds->kind = DS_IDX;
    ds->n = idims[0];
    ds->h = (int)idims[1];
    ds->w = (int)idims[2];
    ds->channels = 1;
    int maxl = 0;
    for (int64_t i = 0; i < ds->n; i++)
        if (ds->idx_labels[i] > maxl)
            maxl = ds->idx_labels[i];
    ds->classes = maxl + 1;
    return DC_OK;
}

static dc_status open_idx_dir(const char *dir, const char *split, dc_dataset *ds)
{
    const char *prefix;
    if (!split || strcmp(split, "train") == 0)
        prefix = "train";
    else if (strcmp(split, "test") == 0 || strcmp(split, "t10k") == 0)
        prefix = "t10k";
    else
        return dc_error(DC_ERR_INVALID,
                        "%s: IDX folders have the splits \"train\" and \"test\", not \"%s\"", dir,
                        split);
    char *images = find_idx_file(dir, prefix, "images-idx3");
    if (!images)
        return dc_error(DC_ERR_IO, "%s: no %s-images-idx3-ubyte[.gz] (split \"%s\")", dir, prefix,
                        split ? split : "train");
    char *labels = find_idx_file(dir, prefix, "labels-idx1");
    if (!labels) {
        free(images);
        return dc_error(DC_ERR_IO, "%s: no %s-labels-idx1-ubyte[.gz] next to the images", dir,
                        prefix);
    }
    dc_status st = open_idx_files(images, labels, ds);
    free(images);
    free(labels);
    return st;
}

/* An images file given directly: its labels are the same name with
 * "images-idx3" replaced by "labels-idx1". */
static dc_status open_idx_path(const char *images, dc_dataset *ds)
{
    const char *at = strstr(images, "images-idx3");
    if (!at)
        at = strstr(images, "images.idx3");
    if (!at)
        return dc_error(DC_ERR_INVALID, "%s: not an IDX images file (*-images-idx3-ubyte[.gz])",
                        images);
    char *labels = strdup(images);
    if (!labels)
        return dc_error(DC_ERR_NOMEM, "out of memory");
    memcpy(labels + (at - images), at[6] == '-' ? "labels-idx1" : "labels.idx1", 11);
    dc_status st = is_file(labels)
                       ? open_idx_files(images, labels, ds)
                       : dc_error(DC_ERR_IO, "%s: missing (the labels of %s)", labels, images);
    free(labels);
    return st;
}

static int has_idx_files(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strstr(names[i], "-idx1-ubyte") || strstr(names[i], "-idx3-ubyte") ||
            strstr(names[i], ".idx1-ubyte") || strstr(names[i], ".idx3-ubyte"))
            return 1;
    return 0;
}

/* ---- JPEG ------------------------------------------------------------------------------ */

typedef struct jpeg_err {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err;

static void jpeg_fail(j_common_ptr ci)
{
    jpeg_err *e = (jpeg_err *)ci->err;
    ci->err->format_message(ci, e->msg);
    longjmp(e->jump, 1);
}

/* Warnings are quiet, except a premature end of data: a truncated file is an
 * error (PIL's "image file is truncated"), not a grey-padded image. */
static void jpeg_message(j_common_ptr ci, int level)
{
    if (level < 0) {
        if (ci->err->msg_code == JWRN_JPEG_EOF)
            jpeg_fail(ci);
        ci->err->num_warnings++;
    }
}

static void jpeg_quiet(j_common_ptr ci)
{
    (void)ci;
}

/* Decodes (pixels != NULL) or only reads the header of a JPEG file. The
 * output has `channels` channels (0: the file's own, 1 or 3). *color tells
 * whether the file is colour. */
static dc_status jpeg_load(const char *path, int channels, dc_image *img, int *color)
{
    FILE *volatile f = fopen(path, "rb");
    if (!f)
        return dc_error(DC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct jpeg_decompress_struct ci;
    jpeg_err err;
    uint8_t *volatile px = NULL;
    ci.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jpeg_fail;
    err.pub.emit_message = jpeg_message;
    err.pub.output_message = jpeg_quiet;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&ci);
        fclose(f);
        free(px);
        return dc_error(DC_ERR_PARSE, "%s: JPEG: %s", path, err.msg);
    }
    jpeg_create_decompress(&ci);
    jpeg_stdio_src(&ci, f);
    jpeg_read_header(&ci, TRUE);
    int is_color;
    switch (ci.jpeg_color_space) {
    case JCS_GRAYSCALE: is_color = 0; break;
    case JCS_RGB:
    case JCS_YCbCr: is_color = 1; break;
    default:
        jpeg_destroy_decompress(&ci);
        fclose(f);
        return dc_error(DC_ERR_UNSUPPORTED, "%s: JPEG colour space %d (CMYK/YCCK) not supported",
                        path, (int)ci.jpeg_color_space);
    }
    if ((int64_t)ci.image_width * ci.image_height > MAX_PIXELS) {
        jpeg_destroy_decompress(&ci);
        fclose(f);
        return dc_error(DC_ERR_UNSUPPORTED, "%s: %ux%u pixels is too large", path,
                        ci.image_width, ci.image_height);
    }
    *color = is_color;
    img->w = (int)ci.image_width;
    img->h = (int)ci.image_height;
    img->c = channels ? channels : (is_color ? 3 : 1);
    img->pixels = NULL;
    if (!channels) {
        jpeg_destroy_decompress(&ci);
        fclose(f);
        return DC_OK;
    }
    /* libjpeg-turbo converts: colour to grey (luma), grey to RGB (replicated). */
    ci.out_color_space = channels == 3 ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_start_decompress(&ci);
    size_t row = (size_t)ci.output_width * (size_t)channels;
    px = malloc(row * ci.output_height);
    if (!px) {
        jpeg_destroy_decompress(&ci);
        fclose(f);
        return dc_error(DC_ERR_NOMEM, "%s: out of memory", path);
    }
    while (ci.output_scanline < ci.output_height) {
        JSAMPROW r = px + row * ci.output_scanline;
        jpeg_read_scanlines(&ci, &r, 1);
    }
    jpeg_finish_decompress(&ci);
    jpeg_destroy_decompress(&ci);
    fclose(f);
    img->w = (int)ci.output_width;
    img->h = (int)ci.output_height;
    img->pixels = px;
    return DC_OK;
}

/* ---- PNG ------------------------------------------------------------------------------- */

static dc_status png_load(const char *path, int channels, dc_image *img, int *color)
{
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&pi, path))
        return dc_error(DC_ERR_PARSE, "%s: PNG: %s", path, pi.message);
    int is_color = (pi.format & PNG_FORMAT_FLAG_COLOR) != 0;
    int alpha = (pi.format & PNG_FORMAT_FLAG_ALPHA) != 0;
    if ((int64_t)pi.width * pi.height > MAX_PIXELS) {
        png_image_free(&pi);
        return dc_error(DC_ERR_UNSUPPORTED, "%s: %ux%u pixels is too large", path, pi.width,
                        pi.height);
    }
    *color = is_color;
    img->w = (int)pi.width;
    img->h = (int)pi.height;
    img->c = channels ? channels : (is_color ? 3 : 1);
    img->pixels = NULL;
    if (!channels) {
        png_image_free(&pi);
        return DC_OK;
    }
    /* Read 8-bit sRGB in the file's own layout (alpha kept), then drop alpha
     * (PIL's convert does not composite) and replicate grey as needed. */
    int fc = (channels == 3 && is_color ? 3 : 1) + alpha;
    pi.format = (channels == 3 && is_color ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY) |
                (alpha ? PNG_FORMAT_FLAG_ALPHA : 0);
    size_t n = (size_t)pi.width * pi.height;
    uint8_t *raw = malloc(n * (size_t)fc);
    uint8_t *px = malloc(n * (size_t)channels);
    if (!raw || !px) {
        free(raw);
        free(px);
        png_image_free(&pi);
        return dc_error(DC_ERR_NOMEM, "%s: out of memory", path);
    }
    if (!png_image_finish_read(&pi, NULL, raw, 0, NULL)) {
        free(raw);
        free(px);
        dc_status st = dc_error(DC_ERR_PARSE, "%s: PNG: %s", path, pi.message);
        png_image_free(&pi);
        return st;
    }
    int base = fc - alpha; /* 1 or 3 colour channels read */
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < channels; c++)
            px[i * channels + c] = raw[i * fc + (base == 3 ? c : 0)];
    free(raw);
    img->pixels = px;
    return DC_OK;
}

/* ---- image files ----------------------------------------------------------------------- */

typedef enum { IMG_NONE, IMG_JPEG, IMG_PNG } img_type;

static img_type sniff(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return IMG_NONE;
    uint8_t h[8];
    size_t n = fread(h, 1, 8, f);
    fclose(f);
    if (n >= 3 && h[0] == 0xFF && h[1] == 0xD8 && h[2] == 0xFF)
        return IMG_JPEG;
    if (n == 8 && memcmp(h, "\x89PNG\r\n\x1a\n", 8) == 0)
        return IMG_PNG;
    return IMG_NONE;
}

/* Whether the file ends like a complete image: a JPEG's end-of-image marker
 * (FF D9 cannot occur elsewhere in entropy-coded data) within the last KiB,
 * a PNG's IEND chunk as the last 12 bytes. */
static int ends_complete(const char *path, img_type t)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    uint8_t tail[1024];
    long len = 0;
    if (fseek(f, 0, SEEK_END) == 0)
        len = ftell(f);
    long take = len < (long)sizeof tail ? len : (long)sizeof tail;
    int ok = 0;
    if (take >= 12 && fseek(f, len - take, SEEK_SET) == 0 &&
        fread(tail, 1, (size_t)take, f) == (size_t)take) {
        if (t == IMG_PNG) {
            ok = memcmp(tail + take - 12, "\0\0\0\0IEND\xae\x42\x60\x82", 12) == 0;
        } else {
            for (long i = take - 2; i >= 0 && !ok; i--)
                ok = tail[i] == 0xFF && tail[i + 1] == 0xD9;
        }
    }
    fclose(f);
    return ok;
}

static dc_status load_file(const char *path, img_type t, int channels, dc_image *img, int *color)
{
    return t == IMG_JPEG ? jpeg_load(path, channels, img, color)
                         : png_load(path, channels, img, color);
}

/* Open-time check of one file: a header that parses and a complete ending;
 * a file without the usual ending is decoded in full to decide. */
static int probe(const char *path, int *color)
{
    img_type t = sniff(path);
    if (t == IMG_NONE)
        return 0;
    dc_image img;
    if (load_file(path, t, 0, &img, color) != DC_OK)
        return 0;
    if (img.w <= 0 || img.h <= 0)
        return 0;
    if (ends_complete(path, t))
        return 1;
    dc_status st = load_file(path, t, *color ? 3 : 1, &img, color);
    free(img.pixels);
    return st == DC_OK;
}

/* ---- folders --------------------------------------------------------------------------- */

typedef struct scan {
    char **paths;
    int *labels;
    int64_t n, cap, skipped;
    int any_color;
} scan;

static dc_status scan_add(scan *s, char *path, int label)
{
    if (s->n == s->cap) {
        int64_t cap = s->cap ? 2 * s->cap : 256;
        char **p = realloc(s->paths, (size_t)cap * sizeof *p);
        if (!p)
            return dc_error(DC_ERR_NOMEM, "out of memory listing images");
        s->paths = p;
        int *l = realloc(s->labels, (size_t)cap * sizeof *l);
        if (!l)
            return dc_error(DC_ERR_NOMEM, "out of memory listing images");
        s->labels = l;
        s->cap = cap;
    }
    s->paths[s->n] = path;
    s->labels[s->n++] = label;
    return DC_OK;
}

static dc_status scan_file(scan *s, char *path, int label)
{
    int color = 0;
    if (!probe(path, &color)) {
        s->skipped++;
        free(path);
        return DC_OK;
    }
    s->any_color |= color;
    dc_status st = scan_add(s, path, label);
    if (st != DC_OK)
        free(path);
    return st;
}

static dc_status scan_dir(scan *s, const char *dir, int label, int depth)
{
    if (depth > MAX_DEPTH)
        return dc_error(DC_ERR_INVALID, "%s: folders nested more than %d deep (a symlink loop?)",
                        dir, MAX_DEPTH);
    char **names;
    size_t n;
    DC_TRY(list_dir(dir, &names, &n));
    dc_status st = DC_OK;
    for (size_t i = 0; i < n && st == DC_OK; i++) {
        char *p = join(dir, names[i]);
        if (!p) {
            st = dc_error(DC_ERR_NOMEM, "out of memory");
            break;
        }
        if (is_dir(p)) {
            st = scan_dir(s, p, label, depth + 1);
            free(p);
        } else if (is_file(p)) {
            st = scan_file(s, p, label);
        } else {
            free(p);
        }
    }
    free_names(names, n);
    return st;
}

static dc_status open_folder(const char *root, dc_dataset *ds)
{
    char **names;
    size_t n;
    DC_TRY(list_dir(root, &names, &n));
    scan s = {0};
    int classes = 0;
    dc_status st = DC_OK;
    for (size_t i = 0; i < n; i++) {
        char *p = join(root, names[i]);
        if (!p) {
            st = dc_error(DC_ERR_NOMEM, "out of memory");
            break;
        }
        classes += is_dir(p);
        free(p);
    }
    for (size_t i = 0, label = 0; i < n && st == DC_OK; i++) {
        char *p = join(root, names[i]);
        if (!p) {
            st = dc_error(DC_ERR_NOMEM, "out of memory");
            break;
        }
        if (is_dir(p)) {
            st = scan_dir(&s, p, (int)label++, 1);
            free(p);
        } else if (is_file(p)) {
            if (classes) { /* loose files next to class folders belong to no class */
                s.skipped++;
                free(p);
            } else {
                st = scan_file(&s, p, 0);
            }
        } else {
            free(p);
        }
    }
    free_names(names, n);
    if (st == DC_OK && s.n == 0)
        st = dc_error(DC_ERR_INVALID, "%s: no readable JPEG or PNG image (%lld files skipped)",
                      root, (long long)s.skipped);
    ds->kind = DS_FOLDER;
    ds->paths = s.paths;
    ds->labels = s.labels;
    ds->n = s.n;
    ds->skipped = s.skipped;
    ds->channels = s.any_color ? 3 : 1;
    ds->classes = classes ? classes : 1;
    if (st == DC_OK && !(ds->failed = calloc((size_t)s.n, sizeof *ds->failed)))
        st = dc_error(DC_ERR_NOMEM, "out of memory");
    return st;
}

/* ---- the dataset ----------------------------------------------------------------------- */

dc_status dc_dataset_open(const char *path, const char *split, dc_dataset **out)
{
    *out = NULL;
    if (!path)
        return dc_error(DC_ERR_INVALID, "dataset: no path");
    dc_dataset *ds = calloc(1, sizeof *ds);
    if (!ds)
        return dc_error(DC_ERR_NOMEM, "out of memory");
    dc_status st;
    if (is_file(path)) {
        st = open_idx_path(path, ds);
    } else if (!is_dir(path)) {
        st = dc_error(DC_ERR_IO, "%s: no such file or folder", path);
    } else {
        char **names;
        size_t n;
        st = list_dir(path, &names, &n);
        if (st == DC_OK) {
            int idx = has_idx_files(names, n);
            free_names(names, n);
            if (idx) {
                st = open_idx_dir(path, split, ds);
            } else {
                const char *sp = split ? split : "train";
                char *sub = join(path, sp);
                if (!sub)
                    st = dc_error(DC_ERR_NOMEM, "out of memory");
                else if (is_dir(sub))
                    st = open_folder(sub, ds);
                else if (strcmp(sp, "train") == 0)
                    st = open_folder(path, ds);
                else
                    st = dc_error(DC_ERR_IO, "%s: no split \"%s\" (expected the folder %s)",
                                  path, sp, sub);
                free(sub);
            }
        }
    }
    if (st != DC_OK) {
        dc_dataset_close(ds);
        return st;
    }
    *out = ds;
    return DC_OK;
}

void dc_dataset_close(dc_dataset *ds)
{
    if (!ds)
        return;
    free(ds->pixels);
    free(ds->idx_labels);
    for (int64_t i = 0; ds->paths && i < ds->n; i++)
        free(ds->paths[i]);
    free(ds->paths);
    free(ds->labels);
    free((void *)ds->failed);
    free(ds);
}

int64_t dc_dataset_size(const dc_dataset *ds)
{
    return ds->n;
}

int dc_dataset_channels(const dc_dataset *ds)
{
    return ds->channels;
}

int dc_dataset_classes(const dc_dataset *ds)
{
    return ds->classes;
}

int64_t dc_dataset_skipped(const dc_dataset *ds)
{
    return ds->skipped + atomic_load(&((dc_dataset *)ds)->late_failures);
}

dc_status dc_dataset_get(const dc_dataset *ds, int64_t i, dc_image *img, int *label)
{
    memset(img, 0, sizeof *img);
    if (i < 0 || i >= ds->n)
        return dc_error(DC_ERR_INVALID, "dataset: image %lld out of range [0, %lld)",
                        (long long)i, (long long)ds->n);
    if (ds->kind == DS_IDX) {
        size_t sz = (size_t)ds->h * (size_t)ds->w;
        img->pixels = malloc(sz);
        if (!img->pixels)
            return dc_error(DC_ERR_NOMEM, "out of memory");
        memcpy(img->pixels, ds->pixels + (size_t)i * sz, sz);
        img->h = ds->h;
        img->w = ds->w;
        img->c = 1;
        if (label)
            *label = ds->idx_labels[i];
        return DC_OK;
    }
    const char *path = ds->paths[i];
    if (atomic_load(&ds->failed[i]))
        return dc_error(DC_ERR_PARSE, "%s: could not be decoded", path);
    int color;
    img_type t = sniff(path);
    dc_status st = t == IMG_NONE
                       ? dc_error(DC_ERR_PARSE, "%s: no longer a JPEG or PNG file", path)
                       : load_file(path, t, ds->channels, img, &color);
    if (st != DC_OK) {
        memset(img, 0, sizeof *img);
        dc_dataset *mut = (dc_dataset *)ds; /* counters only; the struct is heap-allocated */
        if (atomic_exchange(&mut->failed[i], 1) == 0)
            atomic_fetch_add(&mut->late_failures, 1);
        return st;
    }
    if (label)
        *label = ds->labels[i];
    return DC_OK;
}

dc_status dc_image_load(const char *path, dc_image *img)
{
    img_type t = sniff(path);
    if (t == IMG_NONE) {
        FILE *f = fopen(path, "rb");
        if (!f)
            return dc_error(DC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        fclose(f);
        return dc_error(DC_ERR_PARSE, "%s: not a JPEG or PNG image", path);
    }
    int color = 0;
    DC_TRY(load_file(path, t, 0, img, &color)); /* the header: grey or colour */
    return load_file(path, t, color ? 3 : 1, img, &color);
}
