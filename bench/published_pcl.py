"""The published PCL E-step (github.com/salesforce/PCL main_pcl.py, run_kmeans), written
literally, on the CPU: shared by bench/ref_train.py and the E-step equivalence test
(tests/cluster/make_e_step_reference.py)."""
import numpy as np


def run_kmeans(x, num_cluster, temperature, seeds):
    """x: [N, D] float32 normalised features. Per K of num_cluster (with the seed of the same
    position): faiss Clustering (niter 20, nredo 5, 10 to 1000 points per centroid) on an
    exact L2 index, the nearest centroid of every point, and the concentration phi of eq. (12)
    with max phi for clusters of one point, clipped to its 10th..90th percentiles, scaled to
    mean temperature. Returns one dict per K: im2cluster [N] int64, centroids [K, D]
    normalised, density (phi) [K]."""
    import faiss
    results = []
    for k, seed in zip(num_cluster, seeds):
        d = x.shape[1]
        clus = faiss.Clustering(d, k)
        clus.verbose = False
        clus.niter, clus.nredo, clus.seed = 20, 5, int(seed)
        clus.max_points_per_centroid, clus.min_points_per_centroid = 1000, 10
        index = faiss.IndexFlatL2(d)
        clus.train(x, index)
        D, I = index.search(x, 1)
        im2cluster = [int(n[0]) for n in I]
        centroids = faiss.vector_to_array(clus.centroids).reshape(k, d)
        Dcluster = [[] for _ in range(k)]
        for im, i in enumerate(im2cluster):
            Dcluster[i].append(D[im][0])
        density = np.zeros(k)
        for i, dist in enumerate(Dcluster):
            if len(dist) > 1:
                density[i] = (np.asarray(dist) ** 0.5).mean() / np.log(len(dist) + 10)
        dmax = density.max()
        for i, dist in enumerate(Dcluster):
            if len(dist) <= 1:
                density[i] = dmax
        density = density.clip(np.percentile(density, 10), np.percentile(density, 90))
        density = temperature * density / density.mean()
        results.append({"im2cluster": np.asarray(im2cluster, dtype=np.int64),
                        "centroids": centroids / np.linalg.norm(centroids, axis=1, keepdims=True),
                        "density": density})
    return results
