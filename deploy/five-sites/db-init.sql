-- Run once by the mariadb image on an empty data volume.
CREATE DATABASE IF NOT EXISTS october_site1 CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
GRANT ALL PRIVILEGES ON october_site1.* TO 'october'@'%';
CREATE DATABASE IF NOT EXISTS october_site2 CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
GRANT ALL PRIVILEGES ON october_site2.* TO 'october'@'%';
CREATE DATABASE IF NOT EXISTS october_site3 CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
GRANT ALL PRIVILEGES ON october_site3.* TO 'october'@'%';
CREATE DATABASE IF NOT EXISTS october_site4 CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
GRANT ALL PRIVILEGES ON october_site4.* TO 'october'@'%';
CREATE DATABASE IF NOT EXISTS october_site5 CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
GRANT ALL PRIVILEGES ON october_site5.* TO 'october'@'%';
