/*
 * Device keys: Ed25519 pairs in one-line text files,
 *   g2t-public-key <base64 of 32 bytes>
 *   g2t-secret-key <base64 of 64 bytes>
 * The secret file is created exclusively with mode 0600, and a secret file
 * that others may read is refused.  Secrets live in libsodium's guarded
 * memory and are wiped when freed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "g2t.h"

#define PUB_TAG "g2t-public-key "
#define SEC_TAG "g2t-secret-key "
#define KEY_FILE_LIMIT 512

void g2t_key_id(char out[17], const uint8_t pk[G2T_PK_SIZE])
{
	uint8_t h[8];

	g2t_crypto_init();
	crypto_generichash(h, sizeof h, pk, G2T_PK_SIZE, NULL, 0);
	sodium_bin2hex(out, 17, h, sizeof h);
}

/* Writes TAG + base64(key) + newline to a new file; never overwrites. */
static int write_key(const char *path, const char *tag, const uint8_t *key,
                     size_t len, mode_t mode, struct g2t_diag *d)
{
	char line[KEY_FILE_LIMIT];
	size_t n = strlen(tag);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	ssize_t w;

	if (fd < 0)
		return g2t_fail(d, G2T_EIO, 0, -1, "%s: %s", path, strerror(errno));
	memcpy(line, tag, n);
	sodium_bin2base64(line + n, sizeof line - n - 1, key, len,
	                  sodium_base64_VARIANT_ORIGINAL);
	n = strlen(line);
	line[n++] = '\n';
	w = write(fd, line, n);
	sodium_memzero(line, sizeof line);
	if (w != (ssize_t)n || fsync(fd) != 0) {
		close(fd);
		unlink(path);
		return g2t_fail(d, G2T_EIO, 0, -1, "%s: %s", path, strerror(errno));
	}
	return close(fd) == 0 ? G2T_OK : g2t_fail(d, G2T_EIO, 0, -1, "%s", path);
}

int g2t_key_generate(const char *pub_path, const char *sec_path, struct g2t_diag *d)
{
	uint8_t pk[G2T_PK_SIZE], *sk;
	int rc;

	g2t_crypto_init();
	if (!(sk = sodium_malloc(G2T_SK_SIZE)))
		return G2T_ENOMEM;
	crypto_sign_keypair(pk, sk);
	rc = write_key(sec_path, SEC_TAG, sk, G2T_SK_SIZE, 0600, d);
	if (!rc && (rc = write_key(pub_path, PUB_TAG, pk, G2T_PK_SIZE, 0644, d)))
		unlink(sec_path);
	sodium_free(sk);
	return rc;
}

/* Reads a key file of the given kind into key[len]. */
static int read_key(const char *path, const char *tag, uint8_t *key, size_t len,
                    int secret, struct g2t_diag *d)
{
	char buf[KEY_FILE_LIMIT + 1];
	size_t n = strlen(tag), got;
	struct stat st;
	ssize_t r;
	int fd = open(path, O_RDONLY), rc = G2T_OK;

	if (fd < 0)
		return g2t_fail(d, G2T_EIO, 0, -1, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return g2t_fail(d, G2T_EDATA, 0, -1, "%s: not a regular file", path);
	}
	r = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[r > 0 ? r : 0] = '\0';
	if (r > 0 && buf[r - 1] == '\n')
		buf[--r] = '\0';
	/* a public key where the secret one belongs is a mix-up, not a leak */
	if (secret && !strncmp(buf, PUB_TAG, strlen(PUB_TAG)))
		rc = g2t_fail(d, G2T_EDATA, 0, -1, "%s: this is a public key, not a "
		              "secret key", path);
	else if (secret && (st.st_mode & 077))
		rc = g2t_fail(d, G2T_EREFUSED, 0, -1,
		              "%s: secret key readable by others (mode %03o); chmod 600 it",
		              path, (unsigned)(st.st_mode & 0777));
	else if (r <= (ssize_t)n || r >= KEY_FILE_LIMIT || strncmp(buf, tag, n) ||
	    sodium_base642bin(key, len, buf + n, (size_t)r - n, NULL, &got, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0 || got != len)
		rc = g2t_fail(d, G2T_EDATA, 0, -1, "%s: not a g2t %s key", path,
		              secret ? "secret" : "public");
	sodium_memzero(buf, sizeof buf);
	return rc;
}

/*
 * A secret key holds its seed and its public half: they must agree, or
 * every packet signed with it fails verification (the signature is made
 * with the seed, checked with the public half).
 */
static int check_pair(const struct g2t_signer *s, const char *path, struct g2t_diag *d)
{
	uint8_t pk[G2T_PK_SIZE], *sk = sodium_malloc(G2T_SK_SIZE);
	int same;

	if (!sk)
		return G2T_ENOMEM;
	crypto_sign_seed_keypair(pk, sk, s->sk);
	same = !sodium_memcmp(sk, s->sk, G2T_SK_SIZE);
	sodium_free(sk);
	return same ? G2T_OK
	            : g2t_fail(d, G2T_EDATA, 0, -1, "%s: secret key is inconsistent: its "
	                       "public half does not match its seed", path);
}

int g2t_signer_load(struct g2t_signer **out, const char *path, struct g2t_diag *d)
{
	struct g2t_signer *s;
	int rc;

	g2t_crypto_init();
	*out = NULL;
	if (!(s = sodium_malloc(sizeof *s)))
		return G2T_ENOMEM;
	if ((rc = read_key(path, SEC_TAG, s->sk, G2T_SK_SIZE, 1, d)) ||
	    (rc = check_pair(s, path, d))) {
		sodium_free(s);
		return rc;
	}
	crypto_sign_ed25519_sk_to_pk(s->pk, s->sk);
	*out = s;
	return G2T_OK;
}

void g2t_signer_free(struct g2t_signer *s)
{
	if (s)
		sodium_free(s); /* wipes */
}

static int add_file(struct g2t_keyring *k, const char *path, struct g2t_diag *d)
{
	uint8_t (*pk)[G2T_PK_SIZE] = realloc(k->pk, (k->n + 1) * sizeof *pk);
	int rc;

	if (!pk)
		return G2T_ENOMEM;
	k->pk = pk;
	if ((rc = read_key(path, PUB_TAG, k->pk[k->n], G2T_PK_SIZE, 0, d)))
		return rc;
	k->n++;
	return G2T_OK;
}

int g2t_keyring_add(struct g2t_keyring *k, const char *path, struct g2t_diag *d)
{
	struct dirent *e;
	struct stat st;
	DIR *dir;
	int rc = G2T_OK;

	if (stat(path, &st) != 0)
		return g2t_fail(d, G2T_EIO, 0, -1, "%s: %s", path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return add_file(k, path, d);
	if (!(dir = opendir(path)))
		return g2t_fail(d, G2T_EIO, 0, -1, "%s: %s", path, strerror(errno));
	while (!rc && (e = readdir(dir))) {
		size_t n = strlen(e->d_name);
		char file[4096];

		if (n < 5 || strcmp(e->d_name + n - 4, ".pub"))
			continue;
		g2t_path(file, sizeof file, path, e->d_name);
		rc = add_file(k, file, d);
	}
	closedir(dir);
	return rc;
}

int g2t_keyring_has(const struct g2t_keyring *k, const uint8_t pk[G2T_PK_SIZE])
{
	for (size_t i = 0; i < k->n; i++)
		if (!sodium_memcmp(k->pk[i], pk, G2T_PK_SIZE))
			return 1;
	return 0;
}

void g2t_keyring_clear(struct g2t_keyring *k)
{
	free(k->pk);
	k->pk = NULL;
	k->n = 0;
}
