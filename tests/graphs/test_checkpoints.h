/* Checkpoints written by one test file and used by others. */
#ifndef DC_TEST_CHECKPOINTS_H
#define DC_TEST_CHECKPOINTS_H

/* dir/file: test-tiny on 28 px grey images with patch 7 (4×4 patches, width
 * 32), the teacher backbone only (seed 1, LayerScale 1), with the "config"
 * and "step" metadata of dinoc train. Returns the path (malloc'ed) or NULL. */
char *test_knn_checkpoint(const char *dir, const char *file);

#endif
