/*
 * replay.c - runs the fuzz target over files, without libFuzzer.
 *
 * `fuzz_replay_NAME DIR_OR_FILE...` calls LLVMFuzzerInitialize() (when the
 * target has one) and then LLVMFuzzerTestOneInput() once per file (every
 * regular file of a directory, in name order), so that the seed corpus and
 * every crash ever found keep running as an ordinary ctest in every build,
 * sanitizers included. Exits 0 after the last file, 1 if a file cannot be
 * read or no file was found; a violated property aborts.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Weak: targets without set-up do not define it. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Runs the target on one file; returns 0, or -1 if it cannot be read. */
static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	long len;
	int rc = -1;

	if (!f)
		goto out;
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		goto out;
	buf = malloc((size_t)len + 1); /* +1: malloc(0) may return NULL */
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len)
		goto out;
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "fuzz_replay: cannot read %s\n", path);
	free(buf);
	if (f)
		fclose(f);
	return rc;
}

int main(int argc, char **argv)
{
	int files = 0, failed = 0;

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct dirent **names = NULL;
		struct stat st;
		int n;

		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "fuzz_replay: no such file or directory: %s\n", argv[i]);
			failed++;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			failed += replay_file(argv[i]) != 0;
			files++;
			continue;
		}
		n = scandir(argv[i], &names, NULL, alphasort);
		for (int j = 0; j < n; j++) {
			char path[4096];

			snprintf(path, sizeof(path), "%s/%s", argv[i], names[j]->d_name);
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				failed += replay_file(path) != 0;
				files++;
			}
			free(names[j]);
		}
		free(names);
	}
	printf("fuzz_replay: %d files, %d unreadable\n", files, failed);
	return files > 0 && failed == 0 ? 0 : 1;
}
