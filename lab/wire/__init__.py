"""The wire: traffic between the peers, its capture and dissection, decryption with the
kernels' keys, and the verdict on what crossed."""
