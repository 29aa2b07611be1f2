/* The batcher: background threads fill a small ring of batches ahead of the
 * step being trained.
 *
 * A batch is a list of work items — item 0 draws the block masks and the
 * drop-path scales, item 1 + b decodes image b and augments its 2 + nL views —
 * that any worker may take; the slots of the ring hold the tensors. Every
 * random number comes from a stream keyed by what it is for (dc_data_internal.h),
 * so which worker does an item, and when, changes nothing in the bytes.
 *
 * Slots move FREE -> FILLING (items being claimed and done) -> READY (all done)
 * -> HELD (returned by dc_batcher_get) -> FREE at the next get. A get for a
 * step that is not the next one marks the ring stale: in-flight items finish
 * into their stale slot, which then frees itself, and claiming restarts at
 * the asked step. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dc_data_internal.h"

/* Slots: the batch in use plus two being prepared, which smooths out slow
 * decodes; batches above RING_BIG_BYTES get one being prepared, as memory
 * matters more there (that is still enough to keep every worker busy). */
enum { RING = 3 };
#ifndef RING_BIG_BYTES
#define RING_BIG_BYTES ((size_t)64 << 20)
#endif

typedef enum { SLOT_FREE, SLOT_FILLING, SLOT_READY, SLOT_HELD } slot_state;

typedef struct slot {
    slot_state state;
    int stale;
    int64_t step;
    int64_t *indices;       /* [B] dataset indices of the batch */
    int next_item, n_items, inflight, done;
    dc_status status;       /* the first failing item's */
    char message[512];
    dc_tensor *tensors[7];
    int n_tensors;
    /* named views into tensors[] */
    dc_tensor *global, *local, *mask, *index, *weight, *keep_g, *keep_l;
} slot;

struct dc_batcher {
    const dc_dataset *ds;
    dc_batch_spec spec;
    uint64_t seed;
    int64_t n, steps_per_epoch, grid, N;
    pthread_mutex_t mu;
    pthread_cond_t work, ready;
    int stop;
    slot slots[RING];
    int64_t next_claim;   /* the next step to start */
    int n_slots;          /* RING, or 2 for big batches */
    int64_t perm_epoch;   /* the epoch `perm` shuffles, -1 for none */
    int64_t *perm;        /* [n] */
    pthread_t *threads;
    int n_threads;
};

/* ---- the work of one item -------------------------------------------------------------- */

static uint64_t view_key(const dc_batcher *b, int64_t epoch, int64_t image, int view)
{
    return dc_rng_key(b->seed, DC_RNG_VIEW, (uint64_t)epoch, (uint64_t)image, (uint64_t)view);
}

/* The block masks of a step: of the whole batch at once, or of each of
 * mask_slices slices (images [k·b, (k + 1)·b), both views) on its own
 * stream, drawn as a batch of 2·b views and put in place. */
static dc_status draw_masks(const dc_batcher *b, int64_t step, uint8_t *mask)
{
    const dc_batch_spec *sp = &b->spec;
    const int64_t B = sp->batch_size, N = b->N;
    const int S = sp->mask_slices > 1 ? sp->mask_slices : 1;
    if (S == 1) {
        dc_block_masks(dc_rng_key(b->seed, DC_RNG_MASK, (uint64_t)step, 0, 0), 2 * B, (int)b->grid,
                       (int)b->grid, sp->mask_probability, sp->mask_ratio, mask);
        return DC_OK;
    }
    const int64_t per = B / S; /* images of a slice: views 0 then 1, as in a batch */
    uint8_t *slice = malloc((size_t)(2 * per * N));
    if (!slice)
        return dc_error(DC_ERR_NOMEM, "batcher: out of memory");
    for (int k = 0; k < S; k++) {
        dc_block_masks(dc_rng_key(b->seed, DC_RNG_MASK, (uint64_t)step, (uint64_t)k + 1, (uint64_t)S),
                       2 * per, (int)b->grid, (int)b->grid, sp->mask_probability, sp->mask_ratio,
                       slice);
        for (int v = 0; v < 2; v++)
            memcpy(mask + (size_t)((v * B + k * per) * N), slice + (size_t)(v * per * N),
                   (size_t)(per * N));
    }
    free(slice);
    return DC_OK;
}

/* Masks, iBOT targets and drop-path scales of the slot's step. */
static dc_status masks_item(const dc_batcher *b, slot *s)
{
    const dc_batch_spec *sp = &b->spec;
    const int64_t n_img = 2 * (int64_t)sp->batch_size;
    uint8_t *mask = malloc((size_t)(n_img * b->N));
    if (!mask)
        return dc_error(DC_ERR_NOMEM, "batcher: out of memory");
    dc_status st = draw_masks(b, s->step, mask);
    if (st != DC_OK) {
        free(mask);
        return st;
    }
    st = dc_ibot_targets(mask, n_img, b->N, sp->n_registers, sp->max_masked, s->mask->data,
                         s->index->data, s->weight->data);
    free(mask);
    if (st != DC_OK)
        return st;
    dc_rng r = dc_rng_from(dc_rng_key(b->seed, DC_RNG_DROP_PATH, (uint64_t)s->step, 0, 0));
    dc_drop_path_scales(&r, sp->drop_path, (int64_t)dc_tensor_numel(s->keep_g), s->keep_g->data);
    if (s->keep_l)
        dc_drop_path_scales(&r, sp->drop_path, (int64_t)dc_tensor_numel(s->keep_l),
                            s->keep_l->data);
    return DC_OK;
}

/* Image b of the slot's batch: every view. An image that cannot be decoded
 * is replaced by the next readable one (its views keep the original's seeds). */
static dc_status image_item(const dc_batcher *b, slot *s, int bi)
{
    const dc_batch_spec *sp = &b->spec;
    const int64_t B = sp->batch_size, C = sp->channels;
    const int64_t G = sp->global_size, L = sp->local_size;
    const int64_t idx = s->indices[bi], epoch = s->step / b->steps_per_epoch;
    if (sp->slice_count > 0 && (bi < sp->slice_first || bi >= sp->slice_first + sp->slice_count))
        return DC_OK;
    dc_image img;
    dc_status st = DC_ERR_PARSE;
    for (int64_t k = 0; k < 16 && k < b->n && st != DC_OK; k++)
        st = dc_dataset_get(b->ds, (idx + k) % b->n, &img, NULL);
    if (st != DC_OK)
        return dc_error_context(st, "batcher: image %lld and the 15 after it", (long long)idx);
    float *gv = s->global->data;
    for (int v = 0; v < 2 && st == DC_OK; v++)
        st = dc_augment_view(&img, sp, v, view_key(b, epoch, idx, v),
                             gv + ((size_t)v * B + bi) * C * G * G);
    for (int v = 0; v < sp->n_local && st == DC_OK; v++)
        st = dc_augment_view(&img, sp, 2 + v, view_key(b, epoch, idx, 2 + v),
                             (float *)s->local->data + ((size_t)v * B + bi) * C * L * L);
    free(img.pixels);
    return st;
}

/* ---- the ring -------------------------------------------------------------------------- */

/* Fills perm for `epoch` (Fisher-Yates from the epoch's stream). Under the lock. */
static void shuffle_epoch(dc_batcher *b, int64_t epoch)
{
    if (b->perm_epoch == epoch)
        return;
    for (int64_t i = 0; i < b->n; i++)
        b->perm[i] = i;
    dc_rng r = dc_rng_from(dc_rng_key(b->seed, DC_RNG_ORDER, (uint64_t)epoch, 0, 0));
    for (int64_t i = b->n - 1; i > 0; i--) {
        int64_t j = dc_rng_int(&r, 0, i);
        int64_t t = b->perm[i];
        b->perm[i] = b->perm[j];
        b->perm[j] = t;
    }
    b->perm_epoch = epoch;
}

/* Starts the next step in a free slot, if there is one. Under the lock. */
static slot *start_slot(dc_batcher *b)
{
    for (int i = 0; i < b->n_slots; i++) {
        slot *s = &b->slots[i];
        if (s->state != SLOT_FREE)
            continue;
        int64_t step = b->next_claim++;
        int64_t epoch = step / b->steps_per_epoch;
        int64_t first = (step % b->steps_per_epoch) * b->spec.batch_size;
        shuffle_epoch(b, epoch);
        memcpy(s->indices, b->perm + first, (size_t)b->spec.batch_size * sizeof *s->indices);
        s->state = SLOT_FILLING;
        s->stale = 0;
        s->step = step;
        s->next_item = s->inflight = s->done = 0;
        s->status = DC_OK;
        s->message[0] = 0;
        pthread_cond_broadcast(&b->work); /* its items are for every worker */
        return s;
    }
    return NULL;
}

/* The filling slot of the lowest step with items left, or NULL. */
static slot *next_work(dc_batcher *b)
{
    slot *best = NULL;
    for (int i = 0; i < b->n_slots; i++) {
        slot *s = &b->slots[i];
        if (s->state == SLOT_FILLING && !s->stale && s->next_item < s->n_items &&
            (!best || s->step < best->step))
            best = s;
    }
    return best;
}

static void *worker(void *arg)
{
    dc_batcher *b = arg;
    pthread_mutex_lock(&b->mu);
    while (!b->stop) {
        slot *s = next_work(b);
        if (!s)
            s = start_slot(b);
        if (!s) {
            pthread_cond_wait(&b->work, &b->mu);
            continue;
        }
        int item = s->next_item++;
        s->inflight++;
        pthread_mutex_unlock(&b->mu);

        dc_status st = item == 0 ? masks_item(b, s) : image_item(b, s, item - 1);

        pthread_mutex_lock(&b->mu);
        s->inflight--;
        s->done++;
        if (st != DC_OK && s->status == DC_OK) {
            s->status = st;
            snprintf(s->message, sizeof s->message, "step %lld: %s", (long long)s->step,
                     dc_error_message());
        }
        if (s->stale) {
            if (s->inflight == 0) {
                s->state = SLOT_FREE;
                pthread_cond_broadcast(&b->work);
            }
        } else if (s->done == s->n_items) {
            s->state = SLOT_READY;
            pthread_cond_broadcast(&b->ready);
        }
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

/* Drops a slot from the pipeline. Under the lock. */
static void discard(slot *s)
{
    if (s->state == SLOT_FILLING) {
        s->stale = 1;
        s->next_item = s->n_items;
        if (s->inflight == 0)
            s->state = SLOT_FREE;
    } else {
        s->state = SLOT_FREE;
    }
}

dc_status dc_batcher_get(dc_batcher *b, int64_t step, dc_tensor ***tensors, int *n)
{
    *tensors = NULL;
    *n = 0;
    if (step < 0)
        return dc_error(DC_ERR_INVALID, "batcher: step %lld", (long long)step);
    pthread_mutex_lock(&b->mu);
    slot *want = NULL;
    for (int i = 0; i < b->n_slots; i++) {
        slot *s = &b->slots[i];
        if (s->state == SLOT_HELD || (s->state != SLOT_FREE && !s->stale && s->step < step))
            discard(s); /* the batch in use, and any step skipped over */
        else if (s->state != SLOT_FREE && !s->stale && s->step == step)
            want = s;
    }
    if (!want && b->next_claim != step) { /* not coming: restart the pipeline at `step` */
        for (int i = 0; i < b->n_slots; i++)
            if (b->slots[i].state != SLOT_FREE && !b->slots[i].stale)
                discard(&b->slots[i]);
        b->next_claim = step;
    }
    pthread_cond_broadcast(&b->work);
    for (;;) {
        if (!want)
            for (int i = 0; i < b->n_slots; i++) {
                slot *s = &b->slots[i];
                if (s->state != SLOT_FREE && !s->stale && s->step == step)
                    want = s;
            }
        if (want && want->state == SLOT_READY)
            break;
        pthread_cond_wait(&b->ready, &b->mu);
    }
    want->state = SLOT_HELD;
    pthread_cond_broadcast(&b->work);
    dc_status st = want->status;
    if (st != DC_OK)
        dc_error(st, "%s", want->message);
    else {
        *tensors = want->tensors;
        *n = want->n_tensors;
    }
    pthread_mutex_unlock(&b->mu);
    return st;
}

/* ---- creation -------------------------------------------------------------------------- */

static dc_status make_slot(dc_batcher *b, slot *s)
{
    const dc_batch_spec *sp = &b->spec;
    const int64_t B = sp->batch_size, C = sp->channels, nL = sp->n_local;
    s->indices = malloc((size_t)B * sizeof *s->indices);
    if (!s->indices)
        return dc_error(DC_ERR_NOMEM, "batcher: out of memory");
    s->n_items = 1 + (int)B;
    s->state = SLOT_FREE;
    dc_tensor **t = s->tensors;
    int k = 0;
    DC_TRY(dc_tensor_create(&t[k], "global_views", DC_F32, 4,
                            (int64_t[]){2 * B, C, sp->global_size, sp->global_size}));
    s->global = t[k++];
    if (nL > 0) {
        DC_TRY(dc_tensor_create(&t[k], "local_views", DC_F32, 4,
                                (int64_t[]){nL * B, C, sp->local_size, sp->local_size}));
        s->local = t[k++];
    }
    DC_TRY(dc_tensor_create(&t[k], "mask", DC_F32, 2, (int64_t[]){2 * B, b->N}));
    s->mask = t[k++];
    DC_TRY(dc_tensor_create(&t[k], "ibot_index", DC_I64, 1, &sp->max_masked));
    s->index = t[k++];
    DC_TRY(dc_tensor_create(&t[k], "ibot_weight", DC_F32, 1, &sp->max_masked));
    s->weight = t[k++];
    DC_TRY(dc_tensor_create(&t[k], "keep_global", DC_F32, 3, (int64_t[]){sp->depth, 2, 2 * B}));
    s->keep_g = t[k++];
    if (nL > 0) {
        DC_TRY(dc_tensor_create(&t[k], "keep_local", DC_F32, 3,
                                (int64_t[]){sp->depth, 2, nL * B}));
        s->keep_l = t[k++];
    }
    s->n_tensors = k;
    return DC_OK;
}

static void free_batcher(dc_batcher *b)
{
    for (int i = 0; i < RING; i++) {
        for (int k = 0; k < 7; k++)
            dc_tensor_destroy(b->slots[i].tensors[k]);
        free(b->slots[i].indices);
    }
    free(b->perm);
    free(b->threads);
    free(b);
}

dc_status dc_batcher_create(const dc_dataset *ds, const dc_batch_spec *spec, uint64_t seed,
                            int threads, dc_batcher **out)
{
    *out = NULL;
    DC_TRY(dc_batch_spec_check(spec));
    int64_t n = dc_dataset_size(ds);
    if (n < spec->batch_size)
        return dc_error(DC_ERR_INVALID,
                        "batcher: the dataset holds %lld images, fewer than one batch of %d",
                        (long long)n, spec->batch_size);
    if (threads < 1)
        threads = 1;
    if (threads > 256)
        threads = 256;
    dc_batcher *b = calloc(1, sizeof *b);
    if (!b)
        return dc_error(DC_ERR_NOMEM, "batcher: out of memory");
    b->ds = ds;
    b->spec = *spec;
    b->seed = seed;
    b->n = n;
    b->steps_per_epoch = n / spec->batch_size;
    b->grid = spec->global_size / spec->patch_size;
    b->N = b->grid * b->grid;
    b->perm_epoch = -1;
    b->perm = malloc((size_t)n * sizeof *b->perm);
    b->threads = calloc((size_t)threads, sizeof *b->threads);
    if (!b->perm || !b->threads) {
        free_batcher(b);
        return dc_error(DC_ERR_NOMEM, "batcher: out of memory");
    }
    size_t batch_bytes = (size_t)2 * spec->batch_size * spec->channels * spec->global_size *
                             spec->global_size * sizeof(float) +
                         (size_t)spec->n_local * spec->batch_size * spec->channels *
                             spec->local_size * spec->local_size * sizeof(float);
    b->n_slots = batch_bytes > RING_BIG_BYTES ? 2 : RING;
    for (int i = 0; i < b->n_slots; i++) {
        dc_status st = make_slot(b, &b->slots[i]);
        if (st != DC_OK) {
            free_batcher(b);
            return dc_error_context(st, "batcher");
        }
    }
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->work, NULL);
    pthread_cond_init(&b->ready, NULL);
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&b->threads[i], NULL, worker, b) != 0) {
            b->n_threads = i;
            dc_batcher_destroy(b);
            return dc_error(DC_ERR_NOMEM, "batcher: cannot start thread %d of %d", i + 1,
                            threads);
        }
    }
    b->n_threads = threads;
    *out = b;
    return DC_OK;
}

void dc_batcher_destroy(dc_batcher *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    b->stop = 1;
    pthread_cond_broadcast(&b->work);
    pthread_mutex_unlock(&b->mu);
    for (int i = 0; i < b->n_threads; i++)
        pthread_join(b->threads[i], NULL);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->work);
    pthread_cond_destroy(&b->ready);
    free_batcher(b);
}

int64_t dc_batcher_steps_per_epoch(const dc_batcher *b)
{
    return b->steps_per_epoch;
}
